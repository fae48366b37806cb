//! Lookups that resume where the previous one ended.
//!
//! The loader looks up each of an object's `DT_NEEDED` names in the object's table, in
//! `DT_NEEDED` order; a scan from the first entry every time costs O(N²) entries for N names
//! (at N = 160, two thirds of a start's instructions). Both writers sort the entries by name
//! (byte order), which is not the `DT_NEEDED` order (`libsn10.so` sorts between `libsn1.so`
//! and `libsn2.so`), so resuming blindly after the previous hit would often have to wrap
//! around. What the order gives instead: in a table whose names are strictly ascending, every
//! name is listed at most once (so the first entry for a name is its only one, and where the
//! scan starts cannot change which entry is found), and the scan can start at the entry after
//! the previous hit whenever that entry's name is not past the wanted one, and stop at the
//! first name past it. For names asked in ascending order that is one pass over the table in
//! all; for `libsn1.so` … `libsn160.so` asked in that order, 379 entries for the 160 names.

use core::cmp::Ordering;

use crate::scan::split_field;
use crate::table::{Entries, Items, Table};

/// Where [`Table::lookup_from`] starts, kept between lookups in one table. From
/// [`Table::parse_with_cursor`], which proves when resuming is safe; `Cursor::default()` always
/// scans from the first entry, exactly as [`Table::lookup`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Offset in the table's body of the entry after the last hit (0 before any).
    next_entry: usize,
    /// The table's names were found strictly ascending when it was validated.
    names_ascend: bool,
}

impl Cursor {
    pub(crate) const fn new(names_ascend: bool) -> Cursor {
        Cursor { next_entry: 0, names_ascend }
    }

    /// Whether lookups through this cursor may start after the first entry.
    pub const fn resumes(&self) -> bool {
        self.names_ascend
    }
}

impl<'a> Table<'a> {
    /// The same answer as [`lookup`](Self::lookup) — the path list of the first entry for
    /// `needed` — starting where the previous lookup through `cursor` ended when the table's
    /// names ascend. `cursor` must come from [`parse_with_cursor`](Self::parse_with_cursor) of
    /// this table's descriptor (or be the default); with another table's cursor the answer is
    /// unspecified, though never a panic.
    pub fn lookup_from(&self, needed: &[u8], cursor: &mut Cursor) -> Option<Items<'a>> {
        let after_hit = self.body.get(cursor.next_entry..).unwrap_or_default();
        // Entries before the cursor's have smaller names than its: if its name is not past
        // `needed`, neither are they, and none of them is `needed`.
        let resume = cursor.names_ascend && !after_hit.is_empty() && split_field(after_hit, false).0 <= needed;
        let mut entries = Entries { rest: if resume { after_hit } else { self.body } };
        loop {
            let entry = entries.next()?;
            match entry.needed.cmp(needed) {
                Ordering::Equal => {
                    cursor.next_entry = self.body.len() - entries.rest.len();
                    return Some(entry.items);
                }
                // Ascending: `needed` is not listed.
                Ordering::Greater if cursor.names_ascend => return None,
                // Otherwise the scan from the first entry, as `lookup`.
                _ => {}
            }
        }
    }
}
