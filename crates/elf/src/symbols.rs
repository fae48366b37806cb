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

/// musl 1.2.5's `get_lfs64`: the plain name an LFS64 alias (`fopen64`, `stat64`, …) resolves
/// to, for programs linked against releases that still exported the aliases. `None` for every
/// other name, as for names of 16 bytes or more (musl copies the name into a 16-byte buffer).
pub fn lfs64_base_name(name: &[u8]) -> Option<&[u8]> {
    /// musl 1.2.5's `lfs64_list`, in its order.
    const LFS64_BASES: &[&[u8]] = &[
        b"aio_cancel",
        b"aio_error",
        b"aio_fsync",
        b"aio_read",
        b"aio_return",
        b"aio_suspend",
        b"aio_write",
        b"alphasort",
        b"creat",
        b"fallocate",
        b"fgetpos",
        b"fopen",
        b"freopen",
        b"fseeko",
        b"fsetpos",
        b"fstat",
        b"fstatat",
        b"fstatfs",
        b"fstatvfs",
        b"ftello",
        b"ftruncate",
        b"ftw",
        b"getdents",
        b"getrlimit",
        b"glob",
        b"globfree",
        b"lio_listio",
        b"lockf",
        b"lseek",
        b"lstat",
        b"mkostemp",
        b"mkostemps",
        b"mkstemp",
        b"mkstemps",
        b"mmap",
        b"nftw",
        b"open",
        b"openat",
        b"posix_fadvise",
        b"posix_fallocate",
        b"pread",
        b"preadv",
        b"prlimit",
        b"pwrite",
        b"pwritev",
        b"readdir",
        b"scandir",
        b"sendfile",
        b"setrlimit",
        b"stat",
        b"statfs",
        b"statvfs",
        b"tmpfile",
        b"truncate",
        b"versionsort",
        b"__fxstat",
        b"__fxstatat",
        b"__lxstat",
        b"__xstat",
    ];
    if name.len() >= 16 {
        return None;
    }
    if name == b"readdir64_r" {
        return Some(b"readdir_r");
    }
    let base = name.strip_suffix(b"64")?;
    LFS64_BASES.iter().copied().find(|&b| b == base)
}

/// `sizeof redir` in musl's `__dlsym_redir_time64`.
pub const TIME64_REDIRECT_BUF: usize = 36;

/// musl's `__dlsym_redir_time64` name mapping on 32-bit arches: `time` → `__time64`,
/// `stat` → `__stat_time64`, `gmtime_r` → `__gmtime64_r`, `ctime_r` → `__ctime64_r`… Writes the
/// NUL-terminated candidate into `buf` (truncated as musl's `snprintf` truncates) and returns its
/// length; `None` when musl does not try a redirection. The caller uses the candidate only if
/// libc defines it.
pub fn time64_redirect(name: &[u8], buf: &mut [u8; TIME64_REDIRECT_BUF]) -> Option<usize> {
    let full = name.len();
    if !(4..TIME64_REDIRECT_BUF).contains(&full) {
        return None;
    }
    let (stem, suffix2): (&[u8], &[u8]) = match name.strip_suffix(b"_r") {
        Some(stem) => (stem, b"_r"),
        None => (name, b""),
    };
    if stem.len() < 4 {
        return None;
    }
    // musl compares the whole rest of the name, "_r" included, with "time".
    let suffix: &[u8] = if &name[stem.len() - 4..] == b"time" { b"64" } else { b"_time64" };
    let pieces: [&[u8]; 4] = [b"__", stem, suffix, suffix2];
    let mut len = 0;
    for &b in pieces.iter().flat_map(|p| p.iter()) {
        if len + 1 == buf.len() {
            break;
        }
        buf[len] = b;
        len += 1;
    }
    buf[len] = 0;
    Some(len)
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

    #[test]
    fn lfs64_aliases_as_musl_1_2_5() {
        assert_eq!(lfs64_base_name(b"fopen64"), Some(&b"fopen"[..]));
        assert_eq!(lfs64_base_name(b"__fxstatat64"), Some(&b"__fxstatat"[..]));
        assert_eq!(lfs64_base_name(b"readdir64_r"), Some(&b"readdir_r"[..]));
        assert_eq!(lfs64_base_name(b"readdir64"), Some(&b"readdir"[..]));
        // Not in the list, not an alias, or too long for musl's buffer.
        assert_eq!(lfs64_base_name(b"memcpy64"), None);
        assert_eq!(lfs64_base_name(b"fopen"), None);
        assert_eq!(lfs64_base_name(b"64"), None);
        assert_eq!(lfs64_base_name(b"posix_fallocate64"), None);
        assert_eq!(lfs64_base_name(b"posix_fadvise64"), Some(&b"posix_fadvise"[..]));
    }

    fn redirect(name: &str) -> Option<std::string::String> {
        let mut buf = [0u8; TIME64_REDIRECT_BUF];
        let len = time64_redirect(name.as_bytes(), &mut buf)?;
        assert_eq!(buf[len], 0);
        Some(std::string::String::from_utf8(buf[..len].to_vec()).unwrap())
    }

    #[test]
    fn time64_redirect_names_as_musl() {
        assert_eq!(redirect("time").as_deref(), Some("__time64"));
        assert_eq!(redirect("difftime").as_deref(), Some("__difftime64"));
        assert_eq!(redirect("stat").as_deref(), Some("__stat_time64"));
        assert_eq!(redirect("gmtime_r").as_deref(), Some("__gmtime_time64_r"));
        assert_eq!(redirect("clock_gettime").as_deref(), Some("__clock_gettime64"));
        assert_eq!(redirect("ctime_r").as_deref(), Some("__ctime_time64_r"));
        // Too short, or too long for musl's buffer.
        assert_eq!(redirect("tim"), None);
        assert_eq!(redirect("abc_r"), None);
        assert_eq!(redirect(&"x".repeat(36)), None);
        // snprintf truncation: 35 characters and the NUL.
        assert_eq!(redirect(&"y".repeat(35)).unwrap().len(), 35);
    }
}
