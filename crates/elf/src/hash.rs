//! Symbol hash functions and the two hash tables that index a dynamic symbol table.
//!
//! The tables only narrow a lookup down to candidate symbol indices: the caller compares names
//! and applies musl's rules about which symbols count (types, bindings, hidden versions).

use crate::consts::STN_UNDEF;
use crate::error::Error;
use crate::header::Class;
use crate::read::{bytes_at, u32_at, word_at};

/// The SysV ELF hash of a symbol name (the bytes before its NUL), as `DT_HASH` tables use.
///
/// Written as musl's `sysv_hash`; equal to the ELF specification's `elf_hash`.
pub fn sysv_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        h ^= (h >> 24) & 0xf0;
    }
    h & 0x0fff_ffff
}

/// The GNU hash of a symbol name (DJB's `h * 33 + c` from 5381), as `DT_GNU_HASH` tables use.
pub fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(GNU_HASH_SEED, |h, &c| gnu_hash_step(h, c))
}

/// The GNU hash of the empty name; [`gnu_hash_step`] adds one byte. For callers that hash a
/// NUL-terminated name while they measure it (the loader, in one pass over memory).
pub const GNU_HASH_SEED: u32 = 5381;

pub fn gnu_hash_step(h: u32, c: u8) -> u32 {
    h.wrapping_mul(33).wrapping_add(u32::from(c))
}

/// Undoes [`gnu_hash_step`] over a NUL byte: `gnu_hash_unstep_nul(gnu_hash_step(h, 0)) == h`.
///
/// 33 is odd, so multiplying by it is invertible modulo 2^32. A loop that hashes a name up to and
/// including its NUL (one exit test per byte, after the step) gets the name's hash back with one
/// multiplication; the loader's relocation loop hashes every symbol name that way.
pub fn gnu_hash_unstep_nul(h: u32) -> u32 {
    /// 33 × 0x3e0f83e1 = 1 (mod 2^32).
    const INVERSE_OF_33: u32 = 0x3e0f_83e1;
    h.wrapping_mul(INVERSE_OF_33)
}

/// A `DT_HASH` table: `nbucket`, `nchain`, then that many u32 buckets and chain links.
#[derive(Clone, Copy, Debug)]
pub struct SysvHashTable<'a> {
    buckets: &'a [u8],
    chains: &'a [u8],
    nbucket: u32,
    nchain: u32,
}

impl<'a> SysvHashTable<'a> {
    /// The size in bytes of the whole table, from its first 8 bytes: how much memory the loader
    /// must cover with the slice it passes to [`SysvHashTable::parse`].
    pub fn table_len(header: &[u8]) -> Option<usize> {
        let nbucket = usize::try_from(u32_at(header, 0)?).ok()?;
        let nchain = usize::try_from(u32_at(header, 4)?).ok()?;
        2usize.checked_add(nbucket)?.checked_add(nchain)?.checked_mul(4)
    }

    /// Parses a table that must lie whole inside `bytes` (extra bytes after it are ignored).
    pub fn parse(bytes: &'a [u8]) -> Result<SysvHashTable<'a>, Error> {
        let nbucket = u32_at(bytes, 0).ok_or(Error::Truncated)?;
        let nchain = u32_at(bytes, 4).ok_or(Error::Truncated)?;
        if nbucket == 0 {
            return Err(Error::BadHashTable); // every lookup would divide by zero
        }
        Self::table_len(bytes).ok_or(Error::Overflow)?;
        let bucket_bytes = (nbucket as usize).checked_mul(4).ok_or(Error::Overflow)?;
        let chain_bytes = (nchain as usize).checked_mul(4).ok_or(Error::Overflow)?;
        let buckets = bytes_at(bytes, 8, bucket_bytes).ok_or(Error::Truncated)?;
        let chains = bytes_at(bytes, 8 + bucket_bytes, chain_bytes).ok_or(Error::Truncated)?;
        Ok(SysvHashTable { buckets, chains, nbucket, nchain })
    }

    pub fn nbucket(&self) -> u32 {
        self.nbucket
    }

    pub fn nchain(&self) -> u32 {
        self.nchain
    }

    /// The number of symbols in the table it indexes: `nchain` (musl's `count_syms`).
    pub fn symbol_count(&self) -> usize {
        self.nchain as usize
    }

    /// The symbol indices on the chain for `hash` (from [`sysv_hash`]). Every symbol whose name
    /// hashes to the same bucket is a candidate; the caller compares names.
    pub fn candidates(&self, hash: u32) -> SysvCandidates<'a> {
        let first = u32_at(self.buckets, (hash % self.nbucket) as usize * 4).unwrap_or(STN_UNDEF);
        // A chain visits each index at most once unless it loops; cap it so a looping chain in
        // a malformed table ends instead of spinning forever.
        SysvCandidates { chains: self.chains, next: first, nchain: self.nchain, steps_left: self.nchain }
    }
}

/// Iterator over the symbol indices of one SysV hash chain.
#[derive(Clone, Debug)]
pub struct SysvCandidates<'a> {
    chains: &'a [u8],
    next: u32,
    nchain: u32,
    steps_left: u32,
}

impl Iterator for SysvCandidates<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        // Indices at or past nchain name no symbol: a malformed link ends the chain.
        if self.next == STN_UNDEF || self.next >= self.nchain || self.steps_left == 0 {
            return None;
        }
        let index = self.next;
        self.steps_left -= 1;
        self.next = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(4))
            .and_then(|off| u32_at(self.chains, off))
            .unwrap_or(STN_UNDEF);
        Some(index)
    }
}

/// A `DT_GNU_HASH` table: a header of four u32 (`nbuckets`, `symoffset`, `bloom_size`,
/// `bloom_shift`), `bloom_size` bloom words of the class's width, `nbuckets` u32 buckets, then
/// one u32 hash value per symbol from `symoffset` on, the last of each chain with bit 0 set.
///
/// The table does not record its own length: the chains run to the last hashed symbol. The
/// loader passes a slice that reaches at least that far (e.g. to the end of the segment that
/// holds the table); reads past the slice end a walk instead of faulting.
#[derive(Clone, Copy, Debug)]
pub struct GnuHashTable<'a> {
    class: Class,
    nbuckets: u32,
    symoffset: u32,
    bloom_size: u32,
    bloom_shift: u32,
    bloom: &'a [u8],
    buckets: &'a [u8],
    chains: &'a [u8],
}

impl<'a> GnuHashTable<'a> {
    /// The size of the fixed part (header, bloom filter, buckets), from the 16-byte header.
    pub fn fixed_len(header: &[u8], class: Class) -> Option<usize> {
        let nbuckets = usize::try_from(u32_at(header, 0)?).ok()?;
        let bloom_size = usize::try_from(u32_at(header, 8)?).ok()?;
        let bloom_bytes = bloom_size.checked_mul(class.word_size())?;
        16usize.checked_add(bloom_bytes)?.checked_add(nbuckets.checked_mul(4)?)
    }

    /// Parses a table whose fixed part lies inside `bytes`; the chains are the rest of `bytes`.
    pub fn parse(bytes: &'a [u8], class: Class) -> Result<GnuHashTable<'a>, Error> {
        let field = |off| u32_at(bytes, off).ok_or(Error::Truncated);
        let (nbuckets, symoffset, bloom_size, bloom_shift) = (field(0)?, field(4)?, field(8)?, field(12)?);
        // Zero buckets would divide by zero; a zero-sized bloom filter has no word to mask into.
        if nbuckets == 0 || bloom_size == 0 {
            return Err(Error::BadHashTable);
        }
        let fixed = Self::fixed_len(bytes, class).ok_or(Error::Overflow)?;
        let bloom_bytes = (bloom_size as usize).checked_mul(class.word_size()).ok_or(Error::Overflow)?;
        let bloom = bytes_at(bytes, 16, bloom_bytes).ok_or(Error::Truncated)?;
        let buckets_start = 16usize.checked_add(bloom_bytes).ok_or(Error::Overflow)?;
        let buckets = bytes.get(buckets_start..fixed).ok_or(Error::Truncated)?;
        let chains = bytes.get(fixed..).ok_or(Error::Truncated)?;
        Ok(GnuHashTable { class, nbuckets, symoffset, bloom_size, bloom_shift, bloom, buckets, chains })
    }

    pub fn nbuckets(&self) -> u32 {
        self.nbuckets
    }

    /// The index of the first hashed symbol; those below it are not in the table.
    pub fn symoffset(&self) -> u32 {
        self.symoffset
    }

    pub fn bloom_size(&self) -> u32 {
        self.bloom_size
    }

    pub fn bloom_shift(&self) -> u32 {
        self.bloom_shift
    }

    fn bucket(&self, index: u32) -> Option<u32> {
        u32_at(self.buckets, usize::try_from(index).ok()?.checked_mul(4)?)
    }

    fn chain(&self, symbol: u32) -> Option<u32> {
        let link = symbol.checked_sub(self.symoffset)?;
        u32_at(self.chains, usize::try_from(link).ok()?.checked_mul(4)?)
    }

    /// Whether the bloom filter lets `hash` through (both of its bits set), as in musl's
    /// `gnu_lookup_filtered`. `false` means no symbol of that name is in the table.
    pub fn bloom_may_contain(&self, hash: u32) -> bool {
        let bits = self.class.word_bits();
        // musl masks with bloom_size - 1 (a power of two in every linker's output); the mask
        // keeps the index below bloom_size for any size, so the read stays in the filter.
        let index = (hash / bits) & (self.bloom_size - 1);
        let Some(word) = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(self.class.word_size()))
            .and_then(|off| word_at(self.bloom, off, self.class))
        else {
            return false;
        };
        // A shift of 32 or more is undefined in C; here it reads as a hash of zero.
        let second = hash.checked_shr(self.bloom_shift).unwrap_or(0) % bits;
        (word >> (hash % bits)) & 1 != 0 && (word >> second) & 1 != 0
    }

    /// The symbol indices whose stored hash equals `hash` (from [`gnu_hash`]) up to bit 0,
    /// after the bloom filter; the caller compares names.
    pub fn candidates(&self, hash: u32) -> GnuCandidates<'a> {
        let mut walk = GnuCandidates { table: *self, hash, next: 0, done: true };
        if self.bloom_may_contain(hash) {
            match self.bucket(hash % self.nbuckets) {
                Some(first) if first != STN_UNDEF => {
                    walk.next = first;
                    walk.done = false;
                }
                _ => {}
            }
        }
        walk
    }

    /// The number of entries in the symbol table this hash table indexes, computed as musl's
    /// `count_syms` does: one past the last symbol of the chain of the highest bucket. `None`
    /// when that chain runs off the slice or the highest bucket is below `symoffset`.
    ///
    /// Like musl, a table whose buckets are all empty counts 0 symbols.
    pub fn symbol_count(&self) -> Option<usize> {
        let highest = (0..self.nbuckets).filter_map(|i| self.bucket(i)).max().unwrap_or(0);
        if highest == STN_UNDEF {
            return Some(0);
        }
        let mut symbol = highest;
        loop {
            let value = self.chain(symbol)?;
            symbol = symbol.checked_add(1)?;
            if value & 1 != 0 {
                return usize::try_from(symbol).ok();
            }
        }
    }
}

/// Iterator over the candidate symbol indices of one GNU hash chain.
#[derive(Clone, Debug)]
pub struct GnuCandidates<'a> {
    table: GnuHashTable<'a>,
    hash: u32,
    next: u32,
    done: bool,
}

impl Iterator for GnuCandidates<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        while !self.done {
            let symbol = self.next;
            // A chain ends with its stop bit, or at the end of the slice when malformed.
            let Some(value) = self.table.chain(symbol) else {
                self.done = true;
                return None;
            };
            match symbol.checked_add(1) {
                Some(n) if value & 1 == 0 => self.next = n,
                _ => self.done = true,
            }
            if (value ^ self.hash) >> 1 == 0 {
                return Some(symbol);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The ELF specification's `elf_hash`, written independently of [`sysv_hash`].
    fn spec_elf_hash(name: &[u8]) -> u32 {
        let mut h: u32 = 0;
        for &c in name {
            h = (h << 4).wrapping_add(c as u32);
            let g = h & 0xf000_0000;
            if g != 0 {
                h ^= g >> 24;
            }
            h &= !g;
        }
        h
    }

    /// `dl_new_hash` as binutils documents it, in 64-bit arithmetic truncated at the end.
    fn reference_gnu_hash(name: &[u8]) -> u32 {
        let mut h: u64 = 5381;
        for &c in name {
            h = (h << 5) + h + c as u64;
            h &= 0xffff_ffff;
        }
        h as u32
    }

    #[test]
    fn hashing_the_nul_is_undone() {
        assert_eq!(33u32.wrapping_mul(0x3e0f_83e1), 1);
        for name in [&b""[..], b"a", b"printf", b"__libc_start_main", &[0xff; 300]] {
            let h = gnu_hash(name);
            assert_eq!(gnu_hash_unstep_nul(gnu_hash_step(h, 0)), h);
        }
    }

    #[test]
    fn hashes_match_reference_implementations_and_known_values() {
        // Known values: readelf / glibc's tests / the binutils GNU hash write-up.
        assert_eq!(gnu_hash(b""), 0x0000_1505);
        assert_eq!(gnu_hash(b"printf"), 0x156b_2bb8);
        assert_eq!(gnu_hash(b"exit"), 0x7c96_7e3f);
        assert_eq!(gnu_hash(b"syscall"), 0xbac2_12a0);
        assert_eq!(sysv_hash(b""), 0);
        assert_eq!(sysv_hash(b"printf"), 0x0779_05a6);
        assert_eq!(sysv_hash(b"exit"), 0x0006_cf04);
        assert_eq!(sysv_hash(b"syscall"), 0x0b09_985c);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let name: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8 | 1
                })
                .collect();
            assert_eq!(sysv_hash(&name), spec_elf_hash(&name), "{name:?}");
            assert_eq!(gnu_hash(&name), reference_gnu_hash(&name), "{name:?}");
        }
    }

    fn words(ws: &[u32]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn sysv_table_walks_chains_and_survives_loops() {
        // nbucket 2, nchain 5: bucket 0 -> 4 -> 2 -> end; bucket 1 -> 3 -> 3 (a loop).
        let b = words(&[2, 5, 4, 3, 0, 0, 0, 3, 2]);
        let t = SysvHashTable::parse(&b).unwrap();
        assert_eq!(SysvHashTable::table_len(&b), Some(b.len()));
        assert_eq!((t.nbucket(), t.nchain(), t.symbol_count()), (2, 5, 5));
        assert_eq!(t.candidates(0).collect::<Vec<_>>(), [4, 2]);
        assert_eq!(t.candidates(2).collect::<Vec<_>>(), [4, 2]);
        assert_eq!(t.candidates(1).count(), 5); // capped at nchain
        assert_eq!(SysvHashTable::parse(&b[..b.len() - 1]).unwrap_err(), Error::Truncated);
        assert_eq!(SysvHashTable::parse(&words(&[0, 0])).unwrap_err(), Error::BadHashTable);
        assert!(SysvHashTable::parse(&words(&[u32::MAX, u32::MAX])).is_err());
        assert!(SysvHashTable::parse(&[1, 0, 0]).is_err());
        // Links to indices outside the chain array end the walk.
        let b = words(&[1, 2, 1, 0, 99]);
        assert_eq!(SysvHashTable::parse(&b).unwrap().candidates(7).collect::<Vec<_>>(), [1]);
    }
}
