//! The dynamic section: raw `(tag, value)` entries and a musl-style summary of them.

use crate::consts::*;
use crate::header::Class;
use crate::read::{entry, word_at};

/// A dynamic section of one class: a run of `Dyn` entries, normally ending with `DT_NULL`.
///
/// The loader builds the slice from `PT_DYNAMIC`'s address and `p_memsz`; iteration stops at
/// `DT_NULL` or at the last whole entry of the slice, whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Dynamic<'a> {
    bytes: &'a [u8],
    class: Class,
}

impl<'a> Dynamic<'a> {
    pub fn new(bytes: &'a [u8], class: Class) -> Dynamic<'a> {
        Dynamic { bytes, class }
    }

    /// Every entry before `DT_NULL` (or the end of the slice) as `(tag, value)`, widened to u64.
    /// ELF32 tags are zero-extended: every tag the loader knows is positive.
    pub fn entries(&self) -> DynamicEntries<'a> {
        DynamicEntries { dynamic: *self, next: 0 }
    }

    /// Whether a `DT_NULL` entry ends the section inside the slice: only then may a reader that
    /// stops at `DT_NULL` alone (musl's loops over `dynv`) walk it.
    pub fn is_terminated(&self) -> bool {
        let mut entries = self.entries();
        entries.by_ref().for_each(drop);
        entries.next == usize::MAX
    }

    /// The string-table offsets of the `DT_NEEDED` entries, in order.
    pub fn needed(&self) -> NeededOffsets<'a> {
        NeededOffsets { entries: self.entries() }
    }

    /// The value of the first entry with `tag` (musl's `search_vec`).
    pub fn find(&self, tag: u64) -> Option<u64> {
        self.entries().find(|&(t, _)| t == tag).map(|(_, v)| v)
    }

    /// A summary of the section (musl's `decode_vec` plus `search_vec` for the extended tags).
    pub fn info(&self) -> DynamicInfo {
        DynamicInfo::decode(self.entries())
    }
}

/// Iterator over a [`Dynamic`] section's `(tag, value)` pairs.
#[derive(Clone, Debug)]
pub struct DynamicEntries<'a> {
    dynamic: Dynamic<'a>,
    next: usize,
}

impl Iterator for DynamicEntries<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let class = self.dynamic.class;
        let e = entry(self.dynamic.bytes, self.next, class.dynamic_entry_size())?;
        let tag = word_at(e, 0, class)?;
        if tag == DT_NULL {
            // Park past the end so a later call cannot resume after the terminator.
            self.next = usize::MAX;
            return None;
        }
        self.next += 1;
        Some((tag, word_at(e, class.word_size(), class)?))
    }
}

/// Iterator over the string-table offsets of a section's `DT_NEEDED` entries.
#[derive(Clone, Debug)]
pub struct NeededOffsets<'a> {
    entries: DynamicEntries<'a>,
}

impl Iterator for NeededOffsets<'_> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.entries.by_ref().find(|&(t, _)| t == DT_NEEDED).map(|(_, v)| v)
    }
}

/// A summary of a dynamic section, the way musl's `decode_dyn` reads one.
///
/// Tags below [`DT_NUM`] are kept in an array indexed by tag with a presence bitmask, and, as
/// with musl's `decode_vec`, a repeated tag keeps its *last* value. The extended tags musl
/// fetches with `search_vec` (GNU_HASH, VERSYM, FLAGS_1, the version tables) keep their *first*
/// value. `DT_NEEDED` is repeated by nature: use [`Dynamic::needed`] for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicInfo {
    /// Bit `t` set when tag `t` (< [`DT_NUM`]) is present.
    present: u64,
    values: [u64; DT_NUM as usize],
    pub gnu_hash: Option<u64>,
    pub versym: Option<u64>,
    pub verdef: Option<u64>,
    pub verdefnum: Option<u64>,
    pub verneed: Option<u64>,
    pub verneednum: Option<u64>,
    pub flags_1: Option<u64>,
}

impl Default for DynamicInfo {
    fn default() -> DynamicInfo {
        DynamicInfo {
            present: 0,
            values: [0; DT_NUM as usize],
            gnu_hash: None,
            versym: None,
            verdef: None,
            verdefnum: None,
            verneed: None,
            verneednum: None,
            flags_1: None,
        }
    }
}

impl DynamicInfo {
    pub fn decode(entries: impl Iterator<Item = (u64, u64)>) -> DynamicInfo {
        let mut info = DynamicInfo::default();
        for (tag, value) in entries {
            if let Some(slot) = usize::try_from(tag).ok().and_then(|t| info.values.get_mut(t)) {
                *slot = value;
                info.present |= 1 << tag; // tag < DT_NUM = 38, so the shift fits
                continue;
            }
            let first = match tag {
                DT_GNU_HASH => &mut info.gnu_hash,
                DT_VERSYM => &mut info.versym,
                DT_VERDEF => &mut info.verdef,
                DT_VERDEFNUM => &mut info.verdefnum,
                DT_VERNEED => &mut info.verneed,
                DT_VERNEEDNUM => &mut info.verneednum,
                DT_FLAGS_1 => &mut info.flags_1,
                _ => continue,
            };
            first.get_or_insert(value);
        }
        info
    }

    /// The value recorded for `tag`, for the generic tags and the extended ones above.
    pub fn get(&self, tag: u64) -> Option<u64> {
        match tag {
            DT_GNU_HASH => self.gnu_hash,
            DT_VERSYM => self.versym,
            DT_VERDEF => self.verdef,
            DT_VERDEFNUM => self.verdefnum,
            DT_VERNEED => self.verneed,
            DT_VERNEEDNUM => self.verneednum,
            DT_FLAGS_1 => self.flags_1,
            _ if self.has(tag) => self.values.get(usize::try_from(tag).ok()?).copied(),
            _ => None,
        }
    }

    /// Whether a generic tag (< [`DT_NUM`]) is present (musl's `dyn[0] & 1<<tag`).
    pub fn has(&self, tag: u64) -> bool {
        tag < DT_NUM && self.present & (1 << tag) != 0
    }

    /// `DT_FLAGS`, or 0.
    pub fn flags(&self) -> u64 {
        self.get(DT_FLAGS).unwrap_or(0)
    }

    /// The library search path: `DT_RUNPATH` wins over `DT_RPATH` when both are present, as in
    /// musl (which treats both alike otherwise). A string-table offset.
    pub fn search_path(&self) -> Option<u64> {
        self.get(DT_RUNPATH).or_else(|| self.get(DT_RPATH))
    }

    /// Whether symbols must be bound at load time (musl binds everything at load time anyway,
    /// but the CLI reports it).
    pub fn bind_now(&self) -> bool {
        self.has(DT_BIND_NOW) || self.flags() & DF_BIND_NOW != 0 || self.flags_1.unwrap_or(0) & DF_1_NOW != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn dyn_bytes(class: Class, entries: &[(u64, u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(t, v) in entries {
            for x in [t, v] {
                match class {
                    Class::Elf32 => out.extend_from_slice(&(x as u32).to_le_bytes()),
                    Class::Elf64 => out.extend_from_slice(&x.to_le_bytes()),
                }
            }
        }
        out
    }

    #[test]
    fn entries_stop_at_null_or_end_in_both_classes() {
        for class in [Class::Elf32, Class::Elf64] {
            let b = dyn_bytes(class, &[(DT_NEEDED, 1), (DT_STRTAB, 0x100), (DT_NULL, 0), (DT_NEEDED, 9)]);
            let d = Dynamic::new(&b, class);
            let mut it = d.entries();
            assert_eq!(it.next(), Some((DT_NEEDED, 1)));
            assert_eq!(it.next(), Some((DT_STRTAB, 0x100)));
            assert_eq!(it.next(), None);
            assert_eq!(it.next(), None);
            // No terminator, and a partial entry at the end: stop at the last whole entry.
            let mut b = dyn_bytes(class, &[(DT_NEEDED, 1), (DT_NEEDED, 2)]);
            b.extend_from_slice(&[1, 0, 0]);
            let d = Dynamic::new(&b, class);
            assert_eq!(d.needed().collect::<Vec<_>>(), [1, 2]);
            assert_eq!(Dynamic::new(&[], class).entries().count(), 0);
            assert!(!d.is_terminated() && !Dynamic::new(&[], class).is_terminated());
            let b = dyn_bytes(class, &[(DT_NEEDED, 1), (DT_NULL, 0)]);
            assert!(Dynamic::new(&b, class).is_terminated());
            assert!(!Dynamic::new(&b[..b.len() - 1], class).is_terminated());
        }
    }

    #[test]
    fn info_follows_musl_decode_vec_and_search_vec() {
        let b = dyn_bytes(
            Class::Elf64,
            &[
                (DT_NEEDED, 1),
                (DT_NEEDED, 7),
                (DT_RPATH, 20),
                (DT_RUNPATH, 30),
                (DT_GNU_HASH, 0x400),
                (DT_GNU_HASH, 0x999),
                (DT_RELR, 0x800),
                (DT_RELRSZ, 16),
                (DT_RELRENT, 8),
                (DT_FLAGS_1, DF_1_NOW | DF_1_PIE),
                (0x7000_0001, 5), // processor-specific: ignored
                (DT_NULL, 0),
            ],
        );
        let d = Dynamic::new(&b, Class::Elf64);
        let info = d.info();
        assert_eq!(info.get(DT_NEEDED), Some(7)); // last wins, as decode_vec
        assert_eq!(info.gnu_hash, Some(0x400)); // first wins, as search_vec
        assert_eq!(info.get(DT_GNU_HASH), Some(0x400));
        assert_eq!(info.get(DT_RELR), Some(0x800));
        assert_eq!(info.get(DT_RELRSZ), Some(16));
        assert_eq!(info.get(DT_RELRENT), Some(8));
        assert_eq!(info.search_path(), Some(30));
        assert!(info.has(DT_RPATH) && !info.has(DT_HASH) && !info.has(DT_NUM) && !info.has(u64::MAX));
        assert_eq!(info.get(DT_HASH), None);
        assert_eq!(info.get(0x7000_0001), None);
        assert!(info.bind_now());
        assert_eq!(d.find(DT_NEEDED), Some(1));
        assert_eq!(d.find(DT_SONAME), None);
        assert_eq!(d.needed().collect::<Vec<_>>(), [1, 7]);
        assert_eq!(Dynamic::new(&[], Class::Elf64).info(), DynamicInfo::default());
    }
}
