//! The one error type of the crate: small, `Copy`, and printable without allocation.

use core::fmt;

/// Why a view could not be built or a table could not be read.
///
/// The loader prints [`Error::message`] after its own prefix, the way musl prints `strerror`
/// text; the variants stay coarse on purpose because a loader only reports, never recovers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes end before the structure they should hold.
    Truncated,
    /// An offset or size computation overflowed the address space.
    Overflow,
    /// The first four bytes are not `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is neither ELFCLASS32 nor ELFCLASS64.
    BadClass,
    /// `EI_DATA` is not ELFDATA2LSB: only little-endian objects are supported.
    BadEncoding,
    /// `EI_VERSION` is not EV_CURRENT.
    BadVersion,
    /// `e_type` is neither ET_EXEC nor ET_DYN.
    BadType,
    /// `e_phentsize` does not match the class.
    BadPhentsize,
    /// `e_shentsize` does not match the class.
    BadShentsize,
    /// A table's size is not a whole number of entries.
    BadTableSize,
    /// A SysV or GNU hash table header is unusable (for example zero buckets).
    BadHashTable,
    /// A RELR table starts with a bitmap, or an address runs past the class's word range.
    BadRelr,
    /// A note's name or descriptor runs past the end of its section or segment.
    BadNote,
    /// `e_machine` is not the loading process's architecture.
    BadMachine,
    /// No `PT_LOAD` segment.
    NoLoadSegment,
    /// A segment the loader cannot map as described: `p_filesz > p_memsz`, `p_offset` and
    /// `p_vaddr` not congruent modulo the page size, `PT_LOAD`s unordered or overlapping, a
    /// `PT_TLS` image outside the file data.
    BadSegment,
    /// No dynamic section inside the mapped file data, one without `DT_NULL` before the end of
    /// its segment, or tables and strings it names outside the mapping.
    BadDynamic,
}

impl Error {
    /// A short description in the spirit of musl's `strerror` texts.
    pub fn message(&self) -> &'static str {
        match self {
            Error::Truncated => "Exec format error (truncated ELF data)",
            Error::Overflow => "Exec format error (ELF offset overflows)",
            Error::BadMagic => "Exec format error (not an ELF file)",
            Error::BadClass => "Exec format error (unsupported ELF class)",
            Error::BadEncoding => "Exec format error (not a little-endian ELF file)",
            Error::BadVersion => "Exec format error (unsupported ELF version)",
            Error::BadType => "Exec format error (not an executable or shared object)",
            Error::BadPhentsize => "Exec format error (bad program header entry size)",
            Error::BadShentsize => "Exec format error (bad section header entry size)",
            Error::BadTableSize => "Exec format error (table size is not a multiple of its entry size)",
            Error::BadHashTable => "Exec format error (bad symbol hash table)",
            Error::BadRelr => "Exec format error (bad RELR relocation table)",
            Error::BadNote => "Exec format error (bad ELF note)",
            Error::BadMachine => "Exec format error (wrong machine)",
            Error::NoLoadSegment => "Exec format error (no loadable segment)",
            Error::BadSegment => "Exec format error (bad loadable segment)",
            Error::BadDynamic => "Exec format error (bad dynamic section)",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
