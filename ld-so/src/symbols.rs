//! Symbol lookup, musl's `find_sym2`: walk a chain of objects, ask each one's
//! GNU hash table (with its Bloom filter) or SysV hash table, and take the first
//! definition that is of an acceptable type and binding and not a hidden version.
use crate::dso::Dso;
use crate::elf::*;
use crate::mem;
use core::num::NonZeroUsize;

use stormless_elf::{gnu_hash, sysv_hash};

/// A definition found: the object and the address of its symbol-table entry
/// (musl's `struct symdef`). Two words, and `Option<Def>` too (the entry's
/// address is never 0): lookups return it in registers where the ABI allows.
#[derive(Clone, Copy)]
pub struct Def {
    pub dso: *mut Dso,
    entry: NonZeroUsize,
}

impl Def {
    /// The defining symbol.
    pub fn sym(&self) -> Sym {
        // SAFETY: `entry` came from Dso::sym_entry: a whole entry inside the mapping.
        unsafe { Sym::read(self.entry.get()) }
    }

    /// The defining symbol's `st_value`, the one field relocation and stage
    /// entry read: one load instead of a copy of the whole entry.
    #[inline(always)]
    pub fn value(&self) -> usize {
        // SAFETY: as in `sym`; st_value lies inside the entry.
        unsafe { mem::read::<usize>(self.entry.get() + Sym::VALUE_OFFSET) }
    }
}

fn version_visible(dso: &Dso, i: usize) -> bool {
    if dso.versym == 0 {
        return true;
    }
    // An index past the version table's region has no entry: not visible.
    let at = dso.versym.wrapping_add(2 * i);
    // SAFETY: the entry lies below versym_end, inside the mapping.
    at >= dso.versym && at < dso.versym_end.saturating_sub(1) && unsafe { mem::read::<i16>(at) } >= 0
}

/// The symbol named `name`: the address of its entry and the entry, read
/// once for the name comparison and handed back, so the caller does not read
/// (and bounds-check) it again.
fn sysv_lookup(dso: &Dso, name: &[u8], h: u32) -> Option<(NonZeroUsize, Sym)> {
    let ht = dso.hashtab;
    // SAFETY: DT_HASH: nbucket (non-zero), nchain, buckets[nbucket], chains[nchain]
    // (32-bit words here), all inside the mapping (map_library checked them).
    unsafe {
        let nbucket = mem::read::<u32>(ht) as usize;
        let nchain = mem::read::<u32>(ht + 4) as usize;
        let mut i = mem::read::<u32>(ht + 8 + 4 * (h as usize % nbucket)) as usize;
        // A link at or past nchain ends the chain; a chain that loops ends
        // after nchain steps instead of hanging the loader.
        let mut steps = 0;
        while i != 0 && i < nchain && steps < nchain {
            if version_visible(dso, i) {
                if let Some(found) = entry_named(dso, i, name) {
                    return Some(found);
                }
            }
            i = mem::read::<u32>(ht + 8 + 4 * nbucket + 4 * i) as usize;
            steps += 1;
        }
    }
    None
}

/// Symbol `i` of `dso` if it is named `name`: its entry's address and the entry.
#[inline(always)]
fn entry_named(dso: &Dso, i: usize, name: &[u8]) -> Option<(NonZeroUsize, Sym)> {
    let entry = dso.sym_entry(i)?;
    // SAFETY: sym_entry returns only entries wholly inside the mapping.
    let sym = unsafe { Sym::read(entry.get()) };
    dso.string_is(sym.st_name as usize, name).then_some((entry, sym))
}

/// The Bloom-filter word index and bit of a GNU hash, computed once per
/// lookup (musl's `gho`/`ghm`), not once per object.
#[derive(Clone, Copy)]
struct Bloom {
    word: usize,
    mask: usize,
}

impl Bloom {
    fn of(h1: u32) -> Bloom {
        let bits = 8 * WORD as u32;
        Bloom { word: (h1 / bits) as usize, mask: 1usize << (h1 % bits) }
    }
}

#[inline(always)]
fn gnu_lookup(dso: &Dso, name: &[u8], h1: u32, bloom: Bloom) -> Option<(NonZeroUsize, Sym)> {
    let ht = dso.ghashtab;
    // SAFETY: DT_GNU_HASH layout: nbuckets, symoffset, bloom_size, bloom_shift,
    // bloom[bloom_size] (words), buckets[nbuckets], chain values.
    unsafe {
        let bloom_size = mem::read::<u32>(ht + 8) as usize;
        let word = mem::read::<usize>(ht + 16 + WORD * (bloom.word & (bloom_size - 1)));
        if word & bloom.mask == 0 {
            return None;
        }
        let bloom_shift = mem::read::<u32>(ht + 12);
        if (word >> ((h1 >> bloom_shift) % (8 * WORD as u32))) & 1 == 0 {
            return None;
        }
        let nbuckets = mem::read::<u32>(ht);
        let symoffset = mem::read::<u32>(ht + 4) as usize;
        let buckets = ht + 16 + WORD * bloom_size;
        let mut i = mem::read::<u32>(buckets + 4 * (h1 % nbuckets) as usize) as usize;
        if i < symoffset.max(1) {
            return None;
        }
        // The chain runs to its end bit; without one, to the end of the
        // table's region (ghash_end), never beyond: `left` counts the chain
        // words from `i` on that lie inside it, so each step tests a counter
        // instead of recomputing an address bound (and an index past the
        // region, which on a 32-bit arch could wrap the address, ends here).
        // map_library checked that the buckets end inside the region.
        let chains = buckets + 4 * nbuckets as usize;
        let first = i - symoffset;
        let mut left = (dso.ghash_end.saturating_sub(chains) / 4).checked_sub(first).filter(|&n| n > 0)?;
        let mut hashval = chains + 4 * first;
        let h1 = h1 | 1;
        loop {
            let h2 = mem::read::<u32>(hashval);
            if h1 == h2 | 1 && version_visible(dso, i) {
                if let Some(found) = entry_named(dso, i, name) {
                    return Some(found);
                }
            }
            left -= 1;
            if h2 & 1 != 0 || left == 0 {
                return None;
            }
            hashval += 4;
            i += 1;
        }
    }
}

/// Which chain to walk: the global `syms_next` chain, or one object's `deps`.
pub enum Scope {
    Global,
    Deps,
}

/// musl's `find_sym2`: the first acceptable definition of `name` in
/// `start` and then its `syms_next` chain (global scope), or in `start` and
/// then its `deps` (a dlopen handle's scope).
#[inline]
pub fn find_sym(start: *mut Dso, name: &[u8], need_def: bool, scope: Scope) -> Option<Def> {
    find_sym_hashed(start, name, gnu_hash(name), need_def, scope)
}

/// [`find_sym`] for a name whose GNU hash the caller computed already. The
/// scope is a constant at every call, so this only picks one of the two walks.
#[inline(always)]
pub fn find_sym_hashed(start: *mut Dso, name: &[u8], gh: u32, need_def: bool, scope: Scope) -> Option<Def> {
    match scope {
        Scope::Global => find_in_chain(start, name, gh, need_def),
        Scope::Deps => find_in_deps(start, name, gh, need_def),
    }
}

/// The global scope: `start` and then its `syms_next` chain. Never inlined:
/// relocation processing and every other lookup share this one copy (under
/// qemu-user each copy of code startup runs is translated anew).
///
/// Objects with a GNU hash table (all a current toolchain makes) are walked
/// here with no call on the way, so the loop's state lives in scratch
/// registers: no callee-saved registers to save and restore per lookup,
/// which under qemu-user are a dozen memory operations per relocation. The
/// first object without one hands the rest of the walk to
/// [`find_in_chain_general`], as a tail call.
///
/// In `.text.hot.stormless`, beside the relocation loop that calls it per
/// symbolic relocation (see `reloc::do_relocs_native`).
#[inline(never)]
#[link_section = ".text.hot.stormless"]
fn find_in_chain(start: *mut Dso, name: &[u8], gh: u32, need_def: bool) -> Option<Def> {
    let bloom = Bloom::of(gh);
    let mut p = start;
    while !p.is_null() {
        // SAFETY: the syms_next chain links live Dsos.
        let dso = unsafe { &*p };
        if dso.ghashtab == 0 {
            return find_in_chain_general(p, name, gh, need_def);
        }
        if let Some((entry, sym)) = gnu_lookup(dso, name, gh, bloom) {
            if acceptable(&sym, need_def) {
                return Some(Def { dso: p, entry });
            }
        }
        p = dso.syms_next;
    }
    None
}

/// [`find_in_chain`] from an object without a GNU hash table on: every
/// kind of object, the SysV hash computed once if one asks for it.
#[inline(never)]
fn find_in_chain_general(start: *mut Dso, name: &[u8], gh: u32, need_def: bool) -> Option<Def> {
    let mut lookup = Lookup { name, gh, bloom: Bloom::of(gh), sh: None, need_def };
    let mut p = start;
    while !p.is_null() {
        if let Some(def) = lookup.in_object(p) {
            return Some(def);
        }
        // SAFETY: the syms_next chain links live Dsos.
        p = unsafe { (*p).syms_next };
    }
    None
}

/// musl's tests on a definition found by name: defined unless a definition
/// is needed (or it is TLS), a value unless TLS, and a type and binding that
/// can satisfy a reference.
#[inline(always)]
fn acceptable(sym: &Sym, need_def: bool) -> bool {
    if sym.st_shndx == SHN_UNDEF && (need_def || sym.typ() == STT_TLS) {
        return false;
    }
    if sym.st_value == 0 && sym.typ() != STT_TLS {
        return false;
    }
    (1u32 << sym.typ()) & OK_TYPES != 0 && (1u32 << sym.bind()) & OK_BINDS != 0
}

/// A `dlopen` handle's scope: `start` and then its `deps`.
#[inline(never)]
fn find_in_deps(start: *mut Dso, name: &[u8], gh: u32, need_def: bool) -> Option<Def> {
    let mut lookup = Lookup { name, gh, bloom: Bloom::of(gh), sh: None, need_def };
    if start.is_null() {
        return None;
    }
    // SAFETY: a live Dso whose deps are live Dsos.
    let deps = unsafe { &(*start).deps };
    core::iter::once(start).chain(deps.iter().copied()).find_map(|p| lookup.in_object(p))
}

/// One name being looked up, its hashes computed once.
struct Lookup<'a> {
    name: &'a [u8],
    gh: u32,
    bloom: Bloom,
    /// The SysV hash, computed the first time an object without GNU hash asks.
    sh: Option<u32>,
    need_def: bool,
}

impl Lookup<'_> {
    #[inline(always)]
    fn in_object(&mut self, p: *mut Dso) -> Option<Def> {
        // SAFETY: callers pass live Dsos.
        let dso = unsafe { &*p };
        let (entry, sym) = if dso.ghashtab != 0 {
            gnu_lookup(dso, self.name, self.gh, self.bloom)?
        } else if dso.hashtab != 0 {
            let name = self.name;
            let h = *self.sh.get_or_insert_with(|| sysv_hash(name));
            sysv_lookup(dso, name, h)?
        } else {
            return None;
        };
        acceptable(&sym, self.need_def).then_some(Def { dso: p, entry })
    }
}
