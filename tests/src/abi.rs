//! The exported ABI of a `libc.so`: its dynamic symbol table (name, version,
//! binding, type, visibility, and the size of data objects), the symbols it
//! leaves undefined, DT_SONAME and DT_NEEDED. [`differences`] lists, in words a
//! loader engineer can act on, how stormless' `libc.so` departs from the
//! reference's.
use anyhow::{bail, Context, Result};
use object::elf;
use object::read::elf::{Dyn, FileHeader, Sym};
use object::{Endianness, FileKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

/// How one defined, non-local dynamic symbol is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub binding: String,
    pub kind: String,
    pub visibility: String,
    /// `st_size` of data objects (`STT_OBJECT`, `STT_TLS`, `STT_COMMON`): a
    /// program's copy relocation depends on it. Function sizes are not ABI
    /// (they change with the code) and are not recorded.
    pub object_size: Option<u64>,
}

impl fmt::Display for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.binding)?;
        if self.visibility != "DEFAULT" {
            write!(f, " {}", self.visibility)?;
        }
        if let Some(size) = self.object_size {
            write!(f, " size {size}")?;
        }
        Ok(())
    }
}

/// A symbol's name with its version as `readelf` writes it: `name`,
/// `name@@VER` (default version) or `name@VER` (hidden version).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionedName(pub String);

impl fmt::Display for VersionedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The dynamic interface of one shared object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Abi {
    pub exports: BTreeMap<VersionedName, Export>,
    pub undefined: BTreeSet<VersionedName>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
}

impl Abi {
    /// Read the dynamic interface of the ELF shared object at `path`.
    pub fn read(path: &Path) -> Result<Abi> {
        let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let abi = match FileKind::parse(&*data)? {
            FileKind::Elf32 => read_elf::<elf::FileHeader32<Endianness>>(&data),
            FileKind::Elf64 => read_elf::<elf::FileHeader64<Endianness>>(&data),
            other => bail!("not an ELF file: {other:?}"),
        };
        abi.with_context(|| format!("cannot read the dynamic symbols of {}", path.display()))
    }
}

/// `STB_GLOBAL` → `GLOBAL`: the names `readelf` prints.
fn short_name<T: fmt::Debug>(value: T, prefix: &str) -> String {
    let name = format!("{value:?}");
    name.strip_prefix(prefix).map_or_else(|| format!("{prefix}{name}"), str::to_owned)
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Abi> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let symbols = sections.symbols(endian, data, elf::SHT_DYNSYM)?;
    if symbols.is_empty() {
        bail!("no dynamic symbol table");
    }
    let versions = sections.versions(endian, data)?;
    let mut abi = Abi::default();
    // Entry 0 is the reserved null symbol.
    for (index, symbol) in symbols.enumerate().skip(1) {
        let name = String::from_utf8_lossy(symbol.name(endian, symbols.strings())?).into_owned();
        let mut versioned = name;
        if let Some(versions) = &versions {
            let versym = versions.version_index(endian, index);
            if let Some(version) = versions.version(versym.index())? {
                let at = if versym.is_hidden() { "@" } else { "@@" };
                versioned = format!("{versioned}{at}{}", String::from_utf8_lossy(version.name()));
            }
        }
        let versioned = VersionedName(versioned);
        if symbol.is_undefined(endian) {
            abi.undefined.insert(versioned);
            continue;
        }
        if symbol.st_bind() == elf::STB_LOCAL {
            continue;
        }
        let kind = symbol.st_type();
        let is_data = matches!(kind, elf::STT_OBJECT | elf::STT_TLS | elf::STT_COMMON);
        let export = Export {
            binding: short_name(symbol.st_bind(), "STB_"),
            kind: short_name(kind, "STT_"),
            visibility: short_name(symbol.st_visibility(), "STV_"),
            object_size: is_data.then(|| symbol.st_size(endian).into()),
        };
        abi.exports.insert(versioned, export);
    }
    let dynamic = sections.dynamic_table(endian, data)?;
    for entry in dynamic.dynamics() {
        let tag = entry.d_tag(endian);
        if tag == elf::DT_NULL {
            break;
        }
        if tag != elf::DT_SONAME && tag != elf::DT_NEEDED {
            continue;
        }
        let value: u64 = entry.d_val(endian).into();
        let offset = u32::try_from(value).context("dynamic string offset out of range")?;
        let text = dynamic.strings().get(offset).map_err(|()| anyhow::anyhow!("bad dynamic string offset {value}"))?;
        let text = String::from_utf8_lossy(text).into_owned();
        if tag == elf::DT_SONAME {
            abi.soname = Some(text);
        } else {
            abi.needed.push(text);
        }
    }
    Ok(abi)
}

/// Every way `ours` departs from `reference`, one line each: the reference's
/// exports by name (missing or differing), then ours' extras, the undefined
/// symbols, the dynamic tags. Empty when the two interfaces are equal.
pub fn differences(reference: &Abi, ours: &Abi) -> Vec<String> {
    let mut out = Vec::new();
    for (name, want) in &reference.exports {
        match ours.exports.get(name) {
            None => out.push(format!("missing in ours: {name} ({want})")),
            Some(got) => {
                let mut field = |what: &str, want: String, got: String| {
                    if want != got {
                        out.push(format!("{what} differs: {name}: reference {want}, ours {got}"));
                    }
                };
                field("binding", want.binding.clone(), got.binding.clone());
                field("type", want.kind.clone(), got.kind.clone());
                field("visibility", want.visibility.clone(), got.visibility.clone());
                if want.kind == got.kind {
                    let size = |s: Option<u64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
                    field("object size", size(want.object_size), size(got.object_size));
                }
            }
        }
    }
    for (name, got) in &ours.exports {
        if !reference.exports.contains_key(name) {
            out.push(format!("extra in ours: {name} ({got})"));
        }
    }
    for name in reference.undefined.difference(&ours.undefined) {
        out.push(format!("undefined only in the reference: {name}"));
    }
    for name in ours.undefined.difference(&reference.undefined) {
        out.push(format!("undefined only in ours: {name}"));
    }
    if reference.soname != ours.soname {
        out.push(format!("DT_SONAME differs: reference {:?}, ours {:?}", reference.soname, ours.soname));
    }
    if reference.needed != ours.needed {
        out.push(format!("DT_NEEDED differs: reference {:?}, ours {:?}", reference.needed, ours.needed));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(kind: &str, binding: &str, object_size: Option<u64>) -> Export {
        Export { binding: binding.into(), kind: kind.into(), visibility: "DEFAULT".into(), object_size }
    }

    fn name(n: &str) -> VersionedName {
        VersionedName(n.into())
    }

    #[test]
    fn every_kind_of_difference_is_named() {
        let reference = Abi {
            exports: [
                (name("dlopen"), export("FUNC", "GLOBAL", None)),
                (name("dladdr"), export("FUNC", "GLOBAL", None)),
                (name("_dlstart"), export("NOTYPE", "GLOBAL", None)),
                (name("environ"), export("OBJECT", "WEAK", Some(8))),
                (name("same"), export("FUNC", "GLOBAL", None)),
            ]
            .into(),
            undefined: BTreeSet::new(),
            soname: None,
            needed: vec![],
        };
        let ours = Abi {
            exports: [
                (name("dladdr"), export("FUNC", "WEAK", None)),
                (name("_dlstart"), export("FUNC", "GLOBAL", None)),
                (name("environ"), export("OBJECT", "WEAK", Some(16))),
                (name("same"), export("FUNC", "GLOBAL", None)),
                (name("rust_begin_unwind"), export("FUNC", "GLOBAL", None)),
            ]
            .into(),
            undefined: [name("memcpy")].into(),
            soname: Some("libc.so".into()),
            needed: vec!["libgcc_s.so.1".into()],
        };
        assert_eq!(
            differences(&reference, &ours),
            [
                "type differs: _dlstart: reference NOTYPE, ours FUNC",
                "binding differs: dladdr: reference GLOBAL, ours WEAK",
                "missing in ours: dlopen (FUNC GLOBAL)",
                "object size differs: environ: reference 8, ours 16",
                "extra in ours: rust_begin_unwind (FUNC GLOBAL)",
                "undefined only in ours: memcpy",
                "DT_SONAME differs: reference None, ours Some(\"libc.so\")",
                "DT_NEEDED differs: reference [], ours [\"libgcc_s.so.1\"]",
            ]
        );
        assert!(differences(&reference, &reference).is_empty());
    }

    /// musl's libc.so has no symbol versions; the host's glibc (the build
    /// machine is Debian x86_64) shows that they are read.
    #[test]
    fn versions_sizes_and_dynamic_tags_are_read() {
        let glibc = Abi::read(Path::new("/lib/x86_64-linux-gnu/libc.so.6")).unwrap();
        assert_eq!(glibc.exports[&name("memcpy@GLIBC_2.2.5")], export("FUNC", "GLOBAL", None));
        assert_eq!(glibc.exports[&name("memcpy@@GLIBC_2.14")], export("GNU_IFUNC", "GLOBAL", None));
        assert_eq!(glibc.exports[&name("environ@@GLIBC_2.2.5")], export("OBJECT", "WEAK", Some(8)));
        assert!(!glibc.exports.contains_key(&name("memcpy")));
        assert_eq!(glibc.soname.as_deref(), Some("libc.so.6"));
        assert_eq!(glibc.needed, ["ld-linux-x86-64.so.2"]);
    }
}
