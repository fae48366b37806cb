//! Symbol lookup, musl's `find_sym2`: walk a chain of objects, ask each one's
//! GNU hash table (with its Bloom filter) or SysV hash table, and take the first
//! definition that is of an acceptable type and binding and not a hidden version.
use crate::dso::Dso;
use crate::elf::*;
use crate::mem;

pub fn sysv_hash(s: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in s {
        h = (h << 4).wrapping_add(c as u32);
        h ^= (h >> 24) & 0xf0;
    }
    h & 0x0fff_ffff
}

pub fn gnu_hash(s: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in s {
        h = h.wrapping_add(h.wrapping_mul(32)).wrapping_add(c as u32);
    }
    h
}

/// A definition found: the object and the symbol's index in it.
#[derive(Clone, Copy)]
pub struct Def {
    pub dso: *mut Dso,
    pub sym: Sym,
}

fn version_visible(dso: &Dso, i: usize) -> bool {
    // SAFETY: versym has one entry per dynamic symbol.
    dso.versym == 0 || unsafe { mem::read::<i16>(dso.versym + 2 * i) } >= 0
}

fn sysv_lookup(dso: &Dso, name: &[u8], h: u32) -> Option<usize> {
    let ht = dso.hashtab;
    // SAFETY: DT_HASH: nbucket, nchain, buckets[nbucket], chains[nchain] (32-bit words here).
    unsafe {
        let nbucket = mem::read::<u32>(ht) as usize;
        let mut i = mem::read::<u32>(ht + 8 + 4 * (h as usize % nbucket)) as usize;
        while i != 0 {
            if version_visible(dso, i) && dso.string(dso.sym(i).st_name as usize) == name {
                return Some(i);
            }
            i = mem::read::<u32>(ht + 8 + 4 * nbucket + 4 * i) as usize;
        }
    }
    None
}

fn gnu_lookup(dso: &Dso, name: &[u8], h1: u32) -> Option<usize> {
    let ht = dso.ghashtab;
    // SAFETY: DT_GNU_HASH layout: nbuckets, symoffset, bloom_size, bloom_shift,
    // bloom[bloom_size] (words), buckets[nbuckets], chain values.
    unsafe {
        let nbuckets = mem::read::<u32>(ht);
        let symoffset = mem::read::<u32>(ht + 4) as usize;
        let bloom_size = mem::read::<u32>(ht + 8) as usize;
        let bloom_shift = mem::read::<u32>(ht + 12);
        let bits = 8 * WORD as u32;
        let word = mem::read::<usize>(ht + 16 + WORD * ((h1 / bits) as usize & (bloom_size - 1)));
        let mask = 1usize << (h1 % bits);
        if word & mask == 0 || (word >> ((h1 >> bloom_shift) % bits)) & 1 == 0 {
            return None;
        }
        let buckets = ht + 16 + WORD * bloom_size;
        let mut i = mem::read::<u32>(buckets + 4 * (h1 % nbuckets) as usize) as usize;
        if i == 0 {
            return None;
        }
        let mut hashval = buckets + 4 * nbuckets as usize + 4 * (i - symoffset);
        let h1 = h1 | 1;
        loop {
            let h2 = mem::read::<u32>(hashval);
            hashval += 4;
            if h1 == h2 | 1 && version_visible(dso, i) && dso.string(dso.sym(i).st_name as usize) == name {
                return Some(i);
            }
            if h2 & 1 != 0 {
                return None;
            }
            i += 1;
        }
    }
}

/// Which chain to walk: the global `syms_next` chain, or one object's `deps`.
pub enum Scope {
    Global,
    Deps,
}

/// musl's `find_sym2`.
pub fn find_sym(start: *mut Dso, name: &[u8], need_def: bool, scope: Scope) -> Option<Def> {
    let gh = gnu_hash(name);
    let mut sh = None;
    let mut walk = Walk::new(start, scope);
    while let Some(p) = walk.next() {
        // SAFETY: every pointer in the chains is a live Dso.
        let dso = unsafe { &*p };
        let found = if dso.ghashtab != 0 {
            gnu_lookup(dso, name, gh)
        } else if dso.hashtab != 0 {
            let h = *sh.get_or_insert_with(|| sysv_hash(name));
            sysv_lookup(dso, name, h)
        } else {
            None
        };
        let Some(i) = found else { continue };
        let sym = dso.sym(i);
        if sym.st_shndx == SHN_UNDEF && (need_def || sym.typ() == STT_TLS) {
            continue;
        }
        if sym.st_value == 0 && sym.typ() != STT_TLS {
            continue;
        }
        if (1u32 << sym.typ()) & OK_TYPES == 0 || (1u32 << sym.bind()) & OK_BINDS == 0 {
            continue;
        }
        return Some(Def { dso: p, sym });
    }
    None
}

/// The objects a lookup visits: `start`, then its `syms_next` chain (global
/// scope), or `start`'s own deps list after it (a dlopen handle's scope).
struct Walk {
    current: *mut Dso,
    scope: Scope,
    start: *mut Dso,
    dep: usize,
}

impl Walk {
    fn new(start: *mut Dso, scope: Scope) -> Walk {
        Walk { current: start, scope, start, dep: 0 }
    }
    fn next(&mut self) -> Option<*mut Dso> {
        let p = self.current;
        if p.is_null() {
            return None;
        }
        // SAFETY: chain pointers are live Dsos.
        self.current = match self.scope {
            Scope::Global => unsafe { (*p).syms_next },
            Scope::Deps => {
                let deps = unsafe { &(*self.start).deps };
                let next = deps.get(self.dep).copied().unwrap_or(core::ptr::null_mut());
                self.dep += 1;
                next
            }
        };
        Some(p)
    }
}
