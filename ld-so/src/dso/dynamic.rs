//! A [`Dso`]'s dynamic section: the `(tag, value)` walk, musl's `decode_vec`
//! and `decode_dyn`.
use super::Dso;
use crate::elf::*;
use crate::mem;

impl Dso {
    /// The dynamic section as `(tag, value)` pairs, up to DT_NULL.
    pub fn dynamic(&self) -> DynIter {
        DynIter { at: self.dynv }
    }

    /// musl's `decode_vec` of this object's dynamic section. One copy for
    /// all its callers, as musl's `decode_vec`.
    #[inline(never)]
    #[link_section = ".text.startup.stormless"]
    pub fn decoded(&self) -> Decoded {
        Decoded::from(self.dynamic())
    }

    /// musl's `decode_dyn`.
    #[link_section = ".text.startup.stormless"]
    /// Returns the decoded table, for a caller that needs more of it.
    pub fn decode_dyn(&mut self) -> Decoded {
        let d = self.decoded();
        self.syms = self.laddr(d.get(DT_SYMTAB));
        self.strings = self.laddr(d.get(DT_STRTAB));
        if d.has(DT_HASH) {
            self.hashtab = self.laddr(d.get(DT_HASH));
        }
        if d.has(DT_RPATH) {
            self.rpath_orig = self.strings + d.get(DT_RPATH);
        }
        if d.has(DT_RUNPATH) {
            self.rpath_orig = self.strings + d.get(DT_RUNPATH);
        }
        if d.has(DT_PLTGOT) {
            self.got = self.laddr(d.get(DT_PLTGOT));
        }
        if let Some(v) = self.dynamic().find(DT_GNU_HASH) {
            self.ghashtab = self.laddr(v);
        }
        if let Some(v) = self.dynamic().find(DT_VERSYM) {
            self.versym = self.laddr(v);
        }
        d
    }
}

pub struct DynIter {
    at: usize,
}

impl DynIter {
    /// musl's `search_vec`: the value of the first entry with `tag`.
    pub fn find(self, tag: usize) -> Option<usize> {
        let mut it = self;
        it.by_ref().find(|&(t, _)| t == tag).map(|(_, v)| v)
    }
}

impl Iterator for DynIter {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        // SAFETY: a dynamic section is a DT_NULL-terminated array of word pairs.
        let (tag, val) = unsafe { (mem::read::<usize>(self.at), mem::read::<usize>(self.at + WORD)) };
        if tag == DT_NULL {
            return None;
        }
        self.at += 2 * WORD;
        Some((tag, val))
    }
}

/// musl's `decode_vec(v, a, DYN_CNT)`: values of the tags below `DYN_SLOTS`,
/// with a presence bit each.
pub struct Decoded {
    present: u64,
    values: [usize; DYN_SLOTS],
}

const DYN_SLOTS: usize = 37;

impl Decoded {
    pub fn from(it: impl Iterator<Item = (usize, usize)>) -> Decoded {
        let mut d = core::mem::MaybeUninit::<Decoded>::uninit();
        // Zeroed by a call to musl's memset (code startup runs anyway), not
        // by inline vector stores, which cost more to translate under
        // qemu-user. The opaque size keeps the compiler from expanding it.
        // SAFETY: all-zero bytes are a valid Decoded (integers only).
        let mut d = unsafe {
            let size = core::hint::black_box(core::mem::size_of::<Decoded>());
            crate::musl::ffi::memset(d.as_mut_ptr().cast(), 0, size);
            d.assume_init()
        };
        for (tag, val) in it {
            if tag.wrapping_sub(1) < DYN_SLOTS - 1 {
                d.present |= 1 << tag;
                d.values[tag] = val;
            }
        }
        d
    }
    pub fn has(&self, tag: usize) -> bool {
        tag < DYN_SLOTS && self.present & (1 << tag) != 0
    }
    pub fn get(&self, tag: usize) -> usize {
        if tag < DYN_SLOTS {
            self.values[tag]
        } else {
            0
        }
    }
}
