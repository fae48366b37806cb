//! A [`Dso`]'s symbol and string tables, read within the bounds `map_library`
//! checked (or the mapping's, for what the kernel mapped).
use super::Dso;
use crate::elf::*;
use crate::mem;
use core::num::NonZeroUsize;

/// An all-zero symbol-table entry (undefined, unnamed, no value, local), what
/// [`Dso::sym`] reads for an index past the table.
static UNDEFINED_ENTRY: [u64; 3] = [0; 3];
const _: () = assert!(core::mem::size_of::<[u64; 3]>() >= Sym::SIZE);

impl Dso {
    /// Symbol `index`; one past the symbol table's readable region reads as an
    /// undefined, unnamed symbol (no lookup or relocation can use it).
    ///
    /// The entry's address is a select, not a branch: relocation reads one
    /// symbol per symbolic relocation, and under qemu-user each branch ends a
    /// translated block.
    #[inline(always)]
    pub fn sym(&self, index: usize) -> Sym {
        let at = core::hint::select_unpredictable(
            index < self.nsyms,
            self.syms.wrapping_add(index.wrapping_mul(Sym::SIZE)),
            UNDEFINED_ENTRY.as_ptr() as usize,
        );
        // SAFETY: an index below nsyms names an entry wholly inside the table's
        // readable region (map_library checked); UNDEFINED_ENTRY is a whole entry.
        unsafe { Sym::read(at) }
    }

    /// The address of symbol `index`'s entry, if the whole entry lies in the
    /// symbol table's readable region.
    pub fn sym_entry(&self, index: usize) -> Option<NonZeroUsize> {
        // One comparison with the count map_library checked: lookups ask
        // for every hash-chain candidate, so nothing is computed here.
        if index < self.nsyms {
            // The entry lies in the table's readable region: no overflow, and
            // an address inside a mapping is never 0. (usize::MAX for what the
            // kernel mapped: trusted, as musl trusts everything.)
            NonZeroUsize::new(self.syms.wrapping_add(index.wrapping_mul(Sym::SIZE)))
        } else {
            None
        }
    }

    /// Whether the string at `offset` is `name`: the comparison musl's
    /// `strcmp` makes, without measuring the candidate first (lookups compare
    /// a name with every hash-chain candidate).
    pub fn string_is(&self, offset: usize, name: &[u8]) -> bool {
        match offset.checked_add(name.len()) {
            Some(end) if end < self.strsz => {
                let at = self.strings + offset;
                // A byte loop, as musl's dl_strcmp: names are short, and a
                // call to memcmp per candidate costs more than the compare.
                // SAFETY: [offset, end] lies inside the string table (end < strsz).
                unsafe {
                    name.iter().enumerate().all(|(k, &c)| mem::read::<u8>(at + k) == c)
                        && mem::read::<u8>(at + name.len()) == 0
                }
            }
            _ => false,
        }
    }

    /// [`Dso::string`] and the GNU hash of it, in one pass over the bytes
    /// (relocation processing needs both for every symbol).
    ///
    /// Shaped for qemu-user, where each branch ends a translated block: the
    /// offset is clamped by a select, and the loop hashes up to and including
    /// the NUL with its one test after the step (no test before the first
    /// byte), then takes the NUL's step back out.
    #[inline(always)]
    pub fn string_hashed(&self, offset: usize) -> (&'static [u8], u32) {
        // Past the table: its last byte, a NUL (check_tables; strsz ≥ 1, or
        // usize::MAX for the objects the kernel mapped), so "".
        let offset = if offset < self.strsz { offset } else { self.strsz - 1 };
        let at = self.strings.wrapping_add(offset);
        let (mut p, mut h) = (at, stormless_elf::GNU_HASH_SEED);
        // SAFETY: the string starts inside the table, whose last byte is NUL.
        unsafe {
            loop {
                let c = mem::read::<u8>(p);
                h = stormless_elf::gnu_hash_step(h, c);
                p += 1;
                if c == 0 {
                    break;
                }
            }
            (core::slice::from_raw_parts(at as *const u8, p - at - 1), stormless_elf::gnu_hash_unstep_nul(h))
        }
    }

    /// The string at `offset`; an offset past the string table reads as "".
    pub fn string(&self, offset: usize) -> &'static [u8] {
        // Past the table: its last byte, a NUL (strsz ≥ 1, or usize::MAX for
        // the objects the kernel mapped), so "". A select, as in string_hashed.
        let offset = if offset < self.strsz { offset } else { self.strsz - 1 };
        // SAFETY: the offset starts inside the string table, whose last byte is NUL
        // (checked by map_library; trusted for what the kernel mapped).
        unsafe { mem::cstr(self.strings.wrapping_add(offset)) }
    }
}
