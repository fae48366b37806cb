//! The mutation corpus (issue 15): malformed ELF objects made from the fixtures' real programs
//! and libraries, each one field set to a boundary or out-of-range value, or the file cut short.
//!
//! Fields the `[[file]] derive` machinery names ([`crate::derive`]: the ELF header, program
//! headers, the dynamic entries it knows, the hash tables' headers, truncation) are patched
//! through it; the rest (other dynamic entries, symbols, relocations, notes, hash buckets and
//! chains, random words) are located here with `stormless-elf` and written in place.
//!
//! Every mutation has a stable, readable id, `<base>/<field>=<value>`, so a failure names the
//! object, the field and the value; the generator is deterministic (a fixed seed drives the
//! random words and the sample of program-header mutations).
use crate::derive::{self, Patch, Recipe};
use anyhow::{bail, Context, Result};
use stormless_elf::consts::*;
use stormless_elf::{Class, Dynamic, GnuHashTable, Header, ProgramHeaders};

/// The generator's seed: changing it changes the corpus (and `docs/mutations.md`).
pub const SEED: u64 = 0x5707_1e55_0015;

/// A value written into a field, relative to the field's width and the original file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val {
    Zero,
    One,
    /// All ones in the field's width.
    Max,
    Max1,
    /// 0x40000000: a huge offset or size that still fits 4 bytes.
    Huge,
    /// The file's size + 0x1000: an offset past EOF.
    PastEof,
    /// The original value + 1.
    Misaligned,
    /// `max - base + 1`, with `base` the paired offset (a size that makes offset + size wrap).
    Wrap,
    Num(u64),
}

impl Val {
    fn label(self) -> String {
        match self {
            Val::Zero => "0".into(),
            Val::One => "1".into(),
            Val::Max => "max".into(),
            Val::Max1 => "max-1".into(),
            Val::Huge => "0x40000000".into(),
            Val::PastEof => "past-eof".into(),
            Val::Misaligned => "orig+1".into(),
            Val::Wrap => "wrap".into(),
            Val::Num(n) => format!("{n:#x}"),
        }
    }
}

/// Where a raw (non-derive) field is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Raw {
    /// The value of the first dynamic entry with this tag.
    Dyn(u64),
    /// Symbol `index` (`usize::MAX`: the last), field name.
    Sym(usize, &'static str),
    /// Relocation table (DT_RELA, DT_REL or DT_JMPREL), entry (0 first, 1 middle, 2 last), field.
    Rel(u64, u8, &'static str),
    /// The first note of the first PT_NOTE: `n_namesz`, `n_descsz`, `n_type`.
    Note(&'static str),
    /// SysV hash: `bucket0`, `chainlast`.
    Sysv(&'static str),
    /// GNU hash: `bloom0`, `chain0`, `chainlast`.
    Gnu(&'static str),
    /// A word at a file offset (random mutations).
    At(usize, usize),
}

#[derive(Debug, Clone)]
enum Edit {
    /// A derive field name, its width in bytes, and the name `Val::Wrap` is relative to.
    Derive {
        name: String,
        width: usize,
        wrap_base: Option<String>,
        value: Val,
    },
    Raw {
        at: Raw,
        value: Val,
    },
    /// Keep this many bytes (a derive expression).
    Truncate(String),
}

/// One mutated object.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// `<base>/<field>=<value>`.
    pub id: String,
    pub field: String,
    pub value: String,
    edit: Edit,
}

impl Mutation {
    fn new(base: &str, field: String, value: String, edit: Edit) -> Mutation {
        Mutation { id: format!("{base}/{field}={value}"), field, value, edit }
    }

    /// The mutated copy of `original`.
    pub fn apply(&self, original: &[u8]) -> Result<Vec<u8>> {
        match &self.edit {
            Edit::Truncate(expr) => derive::derive(
                original,
                &Recipe { truncate: Some(derive::Value::Expr(expr.clone())), ..Recipe::default() },
            ),
            Edit::Derive { name, width, wrap_base, value } => {
                let max = if *width >= 8 { "max_address".to_string() } else { format!("{:#x}", width_max(*width)) };
                let wmax = |v: u64| if *width >= 8 { v } else { v.min(width_max(*width)) };
                let v = match value {
                    Val::Zero => derive::Value::Number(0),
                    Val::One => derive::Value::Number(1),
                    Val::Max => derive::Value::Expr(max),
                    Val::Max1 => derive::Value::Expr(format!("{max} - 1")),
                    Val::Huge => derive::Value::Number(wmax(0x4000_0000)),
                    Val::PastEof => derive::Value::Expr("file_size + 0x1000".into()),
                    Val::Misaligned => derive::Value::Expr(format!("{name} + 1")),
                    Val::Wrap => derive::Value::Expr(format!("{max} - {} + 1", wrap_base.as_deref().unwrap_or("0"))),
                    Val::Num(n) => derive::Value::Number(*n),
                };
                derive::derive(
                    original,
                    &Recipe { patch: vec![Patch { at: name.clone(), value: v }], ..Recipe::default() },
                )
            }
            Edit::Raw { at, value } => {
                let elf = Elf::parse(original)?;
                let (offset, width) = elf.locate(at)?;
                let orig = elf.read(offset, width)?;
                let max = width_max(width);
                let v = match *value {
                    Val::Zero => 0,
                    Val::One => 1,
                    Val::Max => max,
                    Val::Max1 => max - 1,
                    Val::Huge => 0x4000_0000,
                    Val::PastEof => original.len() as u64 + 0x1000,
                    Val::Misaligned => orig.wrapping_add(1) & max,
                    Val::Wrap => max.wrapping_sub(orig).wrapping_add(1) & max,
                    Val::Num(n) => n,
                };
                if v & !max != 0 {
                    bail!("{v:#x} does not fit {width} bytes");
                }
                let mut out = original.to_vec();
                out[offset..offset + width].copy_from_slice(&v.to_le_bytes()[..width]);
                Ok(out)
            }
        }
    }
}

fn width_max(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// What the generator knows of an original file (through `stormless-elf`).
struct Elf<'a> {
    bytes: &'a [u8],
    class: Class,
    header: Header,
    headers: ProgramHeaders<'a>,
}

impl<'a> Elf<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Elf<'a>> {
        let header = Header::parse(bytes).map_err(|e| anyhow::anyhow!("not a usable ELF file: {e}"))?;
        let headers = header.program_headers(bytes).map_err(|e| anyhow::anyhow!("program headers: {e}"))?;
        Ok(Elf { bytes, class: header.class, header, headers })
    }

    fn w(&self) -> usize {
        self.class.word_size()
    }

    fn read(&self, offset: usize, width: usize) -> Result<u64> {
        let b = self.bytes.get(offset..offset + width).context("field outside the file")?;
        let mut word = [0u8; 8];
        word[..width].copy_from_slice(b);
        Ok(u64::from_le_bytes(word))
    }

    fn dynamic(&self) -> Result<(usize, Dynamic<'a>)> {
        let ph = self.headers.find(PT_DYNAMIC).context("no PT_DYNAMIC")?;
        let bytes = ph.file_bytes(self.bytes).context("PT_DYNAMIC outside the file")?;
        Ok((usize::try_from(ph.offset)?, Dynamic::new(bytes, self.class)))
    }

    fn dyn_value(&self, tag: u64) -> Option<u64> {
        self.dynamic().ok()?.1.find(tag)
    }

    fn offset_of(&self, vaddr: u64) -> Result<usize> {
        Ok(usize::try_from(
            self.headers.vaddr_to_offset(vaddr).with_context(|| format!("{vaddr:#x} not in the file"))?,
        )?)
    }

    fn table(&self, tag: u64) -> Result<usize> {
        self.offset_of(self.dyn_value(tag).with_context(|| format!("no dynamic entry {tag:#x}"))?)
    }

    /// The number of dynamic symbols (from DT_HASH's nchain or the GNU table).
    fn symbol_count(&self) -> Result<usize> {
        if let Ok(h) = self.table(DT_HASH) {
            return Ok(usize::try_from(self.read(h + 4, 4)?)?);
        }
        let g = self.table(DT_GNU_HASH)?;
        let t = GnuHashTable::parse(&self.bytes[g..], self.class).map_err(|e| anyhow::anyhow!("{e}"))?;
        t.symbol_count().context("GNU hash chain runs off the file")
    }

    fn locate(&self, raw: &Raw) -> Result<(usize, usize)> {
        let w = self.w();
        let is64 = self.class == Class::Elf64;
        Ok(match raw {
            Raw::Dyn(tag) => {
                let (off, d) = self.dynamic()?;
                let i =
                    d.entries().position(|(t, _)| t == *tag).with_context(|| format!("no dynamic entry {tag:#x}"))?;
                (off + i * self.class.dynamic_entry_size() + w, w)
            }
            Raw::Sym(index, field) => {
                let count = self.symbol_count()?;
                let i = if *index == usize::MAX { count.checked_sub(1).context("no symbols")? } else { *index };
                if i >= count {
                    bail!("only {count} symbols");
                }
                let entry = self.table(DT_SYMTAB)? + i * self.class.symbol_size();
                let (o64, o32, width) = match *field {
                    "st_name" => (0, 0, 4),
                    "st_info" => (4, 12, 1),
                    "st_other" => (5, 13, 1),
                    "st_shndx" => (6, 14, 2),
                    "st_value" => (8, 4, w),
                    "st_size" => (16, 8, w),
                    _ => bail!("unknown symbol field {field}"),
                };
                (entry + if is64 { o64 } else { o32 }, width)
            }
            Raw::Rel(tag, which, field) => {
                let (size_tag, rela) = match *tag {
                    DT_RELA => (DT_RELASZ, true),
                    DT_REL => (DT_RELSZ, false),
                    _ => (DT_PLTRELSZ, self.dyn_value(DT_PLTREL) == Some(DT_RELA)),
                };
                let start = self.table(*tag)?;
                let size = usize::try_from(self.dyn_value(size_tag).context("no table size")?)?;
                let ent = if rela { 3 * w } else { 2 * w };
                let n = size / ent;
                if n == 0 {
                    bail!("empty relocation table");
                }
                let i = match which {
                    0 => 0,
                    1 => n / 2,
                    _ => n - 1,
                };
                let f = match *field {
                    "r_offset" => 0,
                    "r_info" => w,
                    "r_addend" if rela => 2 * w,
                    _ => bail!("no field {field}"),
                };
                (start + i * ent + f, w)
            }
            Raw::Note(field) => {
                let ph = self.headers.find(PT_NOTE).context("no PT_NOTE")?;
                let f = match *field {
                    "n_namesz" => 0,
                    "n_descsz" => 4,
                    _ => 8,
                };
                (usize::try_from(ph.offset)? + f, 4)
            }
            Raw::Sysv(field) => {
                let h = self.table(DT_HASH)?;
                let nbucket = usize::try_from(self.read(h, 4)?)?;
                let nchain = usize::try_from(self.read(h + 4, 4)?)?;
                match *field {
                    "bucket0" => (h + 8, 4),
                    _ => (h + 8 + 4 * nbucket + 4 * nchain.checked_sub(1).context("no chain")?, 4),
                }
            }
            Raw::Gnu(field) => {
                let g = self.table(DT_GNU_HASH)?;
                let nbuckets = usize::try_from(self.read(g, 4)?)?;
                let symoffset = usize::try_from(self.read(g + 4, 4)?)?;
                let bloom = usize::try_from(self.read(g + 8, 4)?)?;
                let chains = g + 16 + w * bloom + 4 * nbuckets;
                match *field {
                    "bloom0" => (g + 16, w),
                    "chain0" => (chains, 4),
                    _ => {
                        let count = self.symbol_count()?;
                        (chains + 4 * count.checked_sub(symoffset + 1).context("no chain")?, 4)
                    }
                }
            }
            Raw::At(offset, width) => (*offset, *width),
        })
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

fn phdr_name(elf: &Elf<'_>, index: usize) -> String {
    let typ = elf.headers.get(index).map_or(0, |p| p.typ);
    match typ {
        PT_LOAD => {
            let n = elf.headers.iter().take(index).filter(|p| p.typ == PT_LOAD).count();
            format!("load{n}")
        }
        PT_DYNAMIC => "dynamic".into(),
        _ => format!("phdr{index}"),
    }
}

fn phdr_type_name(typ: u32) -> &'static str {
    match typ {
        PT_LOAD => "LOAD",
        PT_DYNAMIC => "DYNAMIC",
        PT_INTERP => "INTERP",
        PT_NOTE => "NOTE",
        PT_PHDR => "PHDR",
        PT_TLS => "TLS",
        PT_GNU_RELRO => "GNU_RELRO",
        PT_GNU_STACK => "GNU_STACK",
        PT_GNU_EH_FRAME => "GNU_EH_FRAME",
        _ => "other",
    }
}

/// How many program-header mutations of one object are kept (a seeded sample of all of them);
/// every other kind is kept whole.
pub const PHDR_SAMPLE: usize = 100;
/// At most this many mutations per object by default (a seeded sample of all kinds when there
/// are more), so that the corpus makes a little over 1000 per arch and stays quick under qemu.
pub const PER_OBJECT: usize = 260;
/// Mutations kept whatever the sample draws (patterns for [`id_matches`]): the crashes of ours
/// found by wider runs of the generator, so that the corpus keeps guarding them.
pub const PINNED: &[&str] = &[
    "hello/dyn.DT_JMPREL=max",
    "hello/dyn.DT_RELASZ=1",
    "hello/phdr*.p_vaddr(INTERP)=0x40000000",
    "libtlsa/phdr*.p_align(TLS)=0",
    // Every note mutation of the one base that has a note (relfile: `.note.nixos.ldcache`).
    "relfile/note0.*",
];

/// Whether mutation `id` matches `pattern`: equal, or with one `*` in `pattern` standing for
/// any text.
pub fn id_matches(pattern: &str, id: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == id,
        Some((head, tail)) => id.len() >= head.len() + tail.len() && id.starts_with(head) && id.ends_with(tail),
    }
}

/// Random words per object.
pub const RANDOM_WORDS: usize = 24;
/// Random truncation points per object.
pub const RANDOM_CUTS: usize = 6;

/// Every mutation of `original` (a program or library labelled `base`), in a fixed order.
/// Mutations that leave the file unchanged, or that do not apply (a table the object lacks), are
/// dropped, and so are duplicates (two recipes making the same bytes).
pub fn generate(base: &str, original: &[u8], cap: usize) -> Result<Vec<Mutation>> {
    let elf = Elf::parse(original)?;
    let w = elf.w();
    let mut rng = Rng::new(SEED ^ base.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let mut out: Vec<Mutation> = Vec::new();
    let derive_field = |out: &mut Vec<Mutation>, name: &str, width: usize, wrap: Option<&str>, vals: &[Val]| {
        for &v in vals {
            let edit = Edit::Derive { name: name.into(), width, wrap_base: wrap.map(String::from), value: v };
            out.push(Mutation::new(base, name.into(), v.label(), edit));
        }
    };
    use Val::*;
    // Truncations.
    let mut cuts: Vec<String> =
        ["0", "1", "4", "16", "e_phoff", "e_phoff + 1", "file_size - 1"].iter().map(|s| s.to_string()).collect();
    cuts.push(format!("{}", elf.class.header_size() - 1));
    for which in ["load0", "load1", "loadlast", "dynamic"] {
        cuts.push(format!("{which}.p_offset"));
        cuts.push(format!("{which}.p_offset + {}", w * 2 + 3));
        cuts.push(format!("{which}.p_offset + {which}.p_filesz - 1"));
    }
    for _ in 0..RANDOM_CUTS {
        cuts.push(format!("{}", rng.below(original.len())));
    }
    for c in cuts {
        out.push(Mutation::new(base, "truncate".into(), c.replace(' ', ""), Edit::Truncate(c)));
    }
    // The ELF header.
    derive_field(&mut out, "ei_class", 1, None, &[Zero, Num(1), Num(2), Num(3), Max]);
    derive_field(&mut out, "ei_data", 1, None, &[Zero, Num(2), Max]);
    derive_field(&mut out, "e_type", 2, None, &[Zero, Num(1), Num(2), Num(3), Num(4), Max]);
    derive_field(&mut out, "e_machine", 2, None, &[Zero, Num(3), Num(40), Num(62), Num(183), Max]);
    derive_field(&mut out, "e_phoff", w, None, &[Zero, One, Max, Max1, Huge, PastEof, Misaligned]);
    derive_field(
        &mut out,
        "e_phentsize",
        2,
        None,
        &[Zero, One, Max, Misaligned, Num(elf.class.program_header_size() as u64 - 1)],
    );
    let phnum = elf.header.phnum as u64;
    derive_field(&mut out, "e_phnum", 2, None, &[Zero, One, Max, Max1, Num(phnum + 1), Num(phnum.saturating_sub(1))]);
    // Program headers: all candidates, then a seeded sample.
    let mut phdrs = Vec::new();
    for i in 0..elf.headers.len() {
        let which = phdr_name(&elf, i);
        let typ = phdr_type_name(elf.headers.get(i).map_or(0, |p| p.typ));
        let mut one = |field: &str, width: usize, wrap: Option<String>, vals: &[Val]| {
            let name = format!("{which}.{field}");
            for &v in vals {
                let edit = Edit::Derive { name: name.clone(), width, wrap_base: wrap.clone(), value: v };
                phdrs.push(Mutation::new(base, format!("{name}({typ})"), v.label(), edit));
            }
        };
        one("p_type", 4, None, &[Zero, Num(1), Num(2), Num(3), Num(4), Num(6), Num(7), Num(PT_GNU_RELRO as u64), Max]);
        one("p_flags", 4, None, &[Zero, Num(7), Max]);
        one("p_offset", w, None, &[Zero, One, Max, Max1, Huge, PastEof, Misaligned]);
        one("p_vaddr", w, None, &[Zero, One, Max, Max1, Huge, Misaligned]);
        one("p_filesz", w, Some(format!("{which}.p_offset")), &[Zero, One, Max, Max1, Huge, PastEof, Misaligned, Wrap]);
        one("p_memsz", w, Some(format!("{which}.p_vaddr")), &[Zero, One, Max, Max1, Huge, Misaligned, Wrap]);
        one("p_align", w, None, &[Zero, One, Num(3), Max, Huge]);
    }
    // The headers that matter most are kept whole: PT_DYNAMIC, PT_TLS, the PT_LOADs' sizes.
    let (keep, rest): (Vec<_>, Vec<_>) = phdrs
        .into_iter()
        .partition(|m| m.field.contains("(DYNAMIC)") || m.field.contains("(TLS)") || m.field.contains("(GNU_RELRO)"));
    out.extend(keep);
    out.extend(sample(rest, PHDR_SAMPLE, &mut rng));
    // Dynamic entries.
    let named = [
        "DT_NEEDED",
        "DT_PLTRELSZ",
        "DT_HASH",
        "DT_STRTAB",
        "DT_SYMTAB",
        "DT_RELA",
        "DT_RELASZ",
        "DT_STRSZ",
        "DT_SONAME",
        "DT_REL",
        "DT_RELSZ",
        "DT_JMPREL",
        "DT_INIT_ARRAY",
        "DT_INIT_ARRAYSZ",
        "DT_RUNPATH",
        "DT_RELR",
        "DT_RELRSZ",
        "DT_GNU_HASH",
        "DT_VERSYM",
    ];
    for tag in named {
        let vals: &[Val] = if tag.ends_with("SZ") {
            &[Zero, One, Max, Huge, Misaligned]
        } else {
            &[Zero, Max, Huge, PastEof, Misaligned]
        };
        derive_field(&mut out, &format!("dyn.{tag}"), w, None, vals);
        derive_field(&mut out, &format!("dyn.{tag}.tag"), w, None, &[Zero, Max]);
    }
    derive_field(&mut out, "dyn.DT_NULL.tag", w, None, &[One, Max]);
    let raw = |out: &mut Vec<Mutation>, field: String, at: Raw, vals: &[Val]| {
        for &v in vals {
            out.push(Mutation::new(base, field.clone(), v.label(), Edit::Raw { at: at.clone(), value: v }));
        }
    };
    for (tag, name) in [
        (DT_RELAENT, "DT_RELAENT"),
        (DT_RELENT, "DT_RELENT"),
        (DT_SYMENT, "DT_SYMENT"),
        (DT_PLTREL, "DT_PLTREL"),
        (DT_INIT, "DT_INIT"),
        (DT_FINI_ARRAY, "DT_FINI_ARRAY"),
        (DT_FINI_ARRAYSZ, "DT_FINI_ARRAYSZ"),
        (DT_FLAGS, "DT_FLAGS"),
        (DT_FLAGS_1, "DT_FLAGS_1"),
        (DT_VERDEF, "DT_VERDEF"),
        (DT_VERDEFNUM, "DT_VERDEFNUM"),
        (DT_VERNEED, "DT_VERNEED"),
        (DT_VERNEEDNUM, "DT_VERNEEDNUM"),
        (DT_DEBUG, "DT_DEBUG"),
    ] {
        raw(&mut out, format!("dyn.{name}"), Raw::Dyn(tag), &[Zero, One, Max, Huge, Misaligned]);
    }
    // Symbols: the first real one, the second, the last.
    for (index, label) in [(1, "1"), (2, "2"), (usize::MAX, "last")] {
        raw(&mut out, format!("sym{label}.st_name"), Raw::Sym(index, "st_name"), &[Max, Huge, PastEof]);
        raw(&mut out, format!("sym{label}.st_value"), Raw::Sym(index, "st_value"), &[Zero, Max, Huge, Misaligned]);
        raw(&mut out, format!("sym{label}.st_size"), Raw::Sym(index, "st_size"), &[Max, Huge]);
        raw(&mut out, format!("sym{label}.st_info"), Raw::Sym(index, "st_info"), &[Zero, Num(0x16), Max]);
        raw(&mut out, format!("sym{label}.st_shndx"), Raw::Sym(index, "st_shndx"), &[Zero, Num(0xfff1), Max]);
        raw(&mut out, format!("sym{label}.st_other"), Raw::Sym(index, "st_other"), &[Num(2), Max]);
    }
    // Relocations: the first, middle and last entry of each table.
    let (sym_huge, type_bad) = if w == 8 { (0xffff_ffffu64 << 32, 0xffu64) } else { (0xff_ffffu64 << 8, 0xffu64) };
    for (tag, tname) in [(DT_RELA, "rela"), (DT_REL, "rel"), (DT_JMPREL, "jmprel")] {
        for (which, wname) in [(0u8, "first"), (1, "mid"), (2, "last")] {
            let f = |field| format!("{tname}.{wname}.{field}");
            raw(
                &mut out,
                f("r_offset"),
                Raw::Rel(tag, which, "r_offset"),
                &[Zero, Max, Max1, Huge, Misaligned, PastEof],
            );
            raw(
                &mut out,
                f("r_info"),
                Raw::Rel(tag, which, "r_info"),
                &[Zero, Max, Num(sym_huge | 1), Num(type_bad), Num(sym_huge)],
            );
            raw(&mut out, f("r_addend"), Raw::Rel(tag, which, "r_addend"), &[Max, Huge, Max1]);
        }
    }
    // Notes and hash tables.
    for field in ["n_namesz", "n_descsz", "n_type"] {
        raw(&mut out, format!("note0.{field}"), Raw::Note(field), &[Zero, Max, Max1, Huge, Misaligned]);
    }
    derive_field(&mut out, "hash.nbucket", 4, None, &[Zero, One, Max, Huge]);
    derive_field(&mut out, "hash.nchain", 4, None, &[Zero, One, Max, Huge]);
    for f in ["bucket0", "chainlast"] {
        raw(&mut out, format!("hash.{f}"), Raw::Sysv(f), &[Max, Huge, Num(0)]);
    }
    for f in ["nbuckets", "symoffset", "bloom_size", "bloom_shift"] {
        derive_field(&mut out, &format!("gnu_hash.{f}"), 4, None, &[Zero, One, Max, Huge, Num(31), Num(64)]);
    }
    derive_field(&mut out, "gnu_hash.bucket0", 4, None, &[Zero, One, Max, Huge]);
    derive_field(&mut out, "gnu_hash.bucket*", 4, None, &[Zero, Max]);
    for f in ["bloom0", "chain0", "chainlast"] {
        raw(&mut out, format!("gnu_hash.{f}"), Raw::Gnu(f), &[Zero, Max, Num(0xffff_fffe)]);
    }
    // Random words in the first PT_LOAD's file data and in the dynamic section.
    let first = elf.headers.iter().find(|p| p.typ == PT_LOAD).map_or(0, |p| p.filesz as usize).min(original.len());
    let dynamic = elf.dynamic().map(|(off, d)| (off, d.entries().count() * elf.class.dynamic_entry_size())).ok();
    for k in 0..RANDOM_WORDS {
        let (lo, len) = match dynamic {
            Some((off, len)) if k % 3 == 2 && len > w => (off, len),
            _ => (0, first),
        };
        let offset = (lo + rng.below(len.saturating_sub(w))) & !(w - 1);
        let v = [Zero, Max, Huge, Max1, PastEof][rng.below(5)];
        out.push(Mutation::new(
            base,
            format!("word@{offset:#x}"),
            v.label(),
            Edit::Raw { at: Raw::At(offset, w), value: v },
        ));
    }
    // Drop what does not apply, changes nothing, or repeats another mutation's bytes.
    let mut seen = std::collections::HashSet::new();
    seen.insert(original.to_vec());
    let mut kept = Vec::new();
    for m in out {
        if let Ok(bytes) = m.apply(original) {
            if seen.insert(bytes) {
                kept.push(m);
            }
        }
    }
    let (pinned, rest): (Vec<_>, Vec<_>) = kept.into_iter().partition(|m| PINNED.iter().any(|p| id_matches(p, &m.id)));
    let mut chosen = sample(rest, cap, &mut rng);
    chosen.extend(pinned);
    Ok(chosen)
}

fn sample(mut v: Vec<Mutation>, n: usize, rng: &mut Rng) -> Vec<Mutation> {
    // A seeded partial Fisher–Yates, then the kept ones back in their original order.
    let mut idx: Vec<usize> = (0..v.len()).collect();
    let n = n.min(v.len());
    for i in 0..n {
        let j = i + rng.below(idx.len() - i);
        idx.swap(i, j);
    }
    let mut chosen: Vec<usize> = idx[..n].to_vec();
    chosen.sort_unstable();
    let mut out = Vec::with_capacity(n);
    for (k, m) in v.drain(..).enumerate() {
        if chosen.binary_search(&k).is_ok() {
            out.push(m);
        }
    }
    out
}

/// The musl-style message class of a run's output: what kind of error the loader (or the
/// dlopen host, or the kernel) reported, without names, paths or numbers. `""`: nothing.
pub fn message_class(stderr: &str, stdout: &str) -> String {
    for line in stderr.lines().chain(stdout.lines()) {
        let tail = |l: &str| {
            let l = l.split(" (needed by").next().unwrap_or(l);
            let l = &crate::exec::mask_addresses(l);
            let t = l.rsplit(": ").next().unwrap_or(l).trim();
            t.chars().map(|c| if c.is_ascii_digit() { 'N' } else { c }).collect::<String>().replace("NxADDR", "ADDR")
        };
        let kind = if line.contains("Error loading shared library") {
            "load"
        } else if line.contains("Error relocating") {
            if line.contains("symbol not found") {
                return with_dl(line, "reloc: symbol not found");
            }
            if line.contains("unsupported relocation") {
                return with_dl(line, "reloc: unsupported relocation type");
            }
            "reloc"
        } else if line.contains("thread-local storage") {
            return with_dl(line, "tls: cannot allocate");
        } else if line.contains("Not a valid dynamic program") {
            return "command: Not a valid dynamic program".into();
        } else if line.contains("cannot load") {
            "cannot load"
        } else if line.contains("Exec format error") || line.contains("Invalid ELF image") {
            return "exec: Exec format error".into();
        } else if line.contains("dlopen failed") {
            "dlopen"
        } else {
            continue;
        };
        return with_dl(line, &format!("{kind}: {}", tail(line)));
    }
    // Anything else on stderr (qemu's or the kernel's words): its first line, paths and
    // numbers masked.
    match stderr.lines().find(|l| !l.trim().is_empty()) {
        Some(line) => {
            let words: Vec<String> = crate::exec::mask_addresses(line)
                .split_whitespace()
                .map(|w| {
                    if w.contains('/') {
                        "PATH".to_string()
                    } else {
                        w.replace(|c: char| c.is_ascii_digit(), "N").replace("NxADDR", "ADDR")
                    }
                })
                .collect();
            let mut text = words.join(" ");
            text.truncate(80);
            format!("other: {text}")
        }
        None => String::new(),
    }
}

fn with_dl(line: &str, class: &str) -> String {
    if line.starts_with("dlopen failed") && !class.starts_with("dlopen") {
        format!("dlopen: {class}")
    } else {
        class.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let c = |e: &str| message_class(e, "");
        assert_eq!(
            c("Error loading shared library liba.so: Exec format error (needed by /b/c)\n"),
            "load: Exec format error"
        );
        assert_eq!(c("Error relocating /x/liba.so: b_value: symbol not found\n"), "reloc: symbol not found");
        assert_eq!(
            c("dlopen failed: Error loading shared library /w/liba.so: Invalid argument\n"),
            "dlopen: load: Invalid argument"
        );
        assert_eq!(c("Error getting 123 bytes thread-local storage\n"), "tls: cannot allocate");
        assert_eq!(
            c("Error relocating /w/liba.so: relocation at 0x7f12ab00 outside the writable segments\n"),
            "reloc: relocation at ADDR outside the writable segments"
        );
        assert_eq!(c(""), "");
    }

    #[test]
    fn patterns() {
        assert!(id_matches("a/b=1", "a/b=1") && !id_matches("a/b=1", "a/b=10"));
        assert!(id_matches("l/phdr*.p_align(TLS)=0", "l/phdr5.p_align(TLS)=0"));
        assert!(!id_matches("l/phdr*.p_align(TLS)=0", "l/phdr5.p_align(TLS)=0x40000000"));
        assert!(id_matches("h/*", "h/x") && !id_matches("ab*ba", "aba"));
    }

    #[test]
    fn rng_is_deterministic() {
        let (mut a, mut b) = (Rng::new(SEED), Rng::new(SEED));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }
}
