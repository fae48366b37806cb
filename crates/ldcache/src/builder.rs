//! The writer: builds a descriptor the reader accepts, and the note around it.

use alloc::vec::Vec;
use core::fmt;

use crate::table::{Item, ParseError, Table};
use crate::{NOTE_OWNER, NOTE_TYPE};

/// Why an entry cannot be written. The reader would reject a table holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The name is empty, holds a NUL, or is not valid as the reader checks it.
    BadNeeded(ParseError),
    /// A path is empty, holds a NUL or `:` (the list separator), or is not valid text.
    BadPath(ParseError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::BadNeeded(e) => write!(f, "library name cannot be stored: {e}"),
            BuildError::BadPath(e) => write!(f, "path cannot be stored: {e}"),
        }
    }
}

/// Accumulates entries in the order given; [`finish`](Self::finish) adds the terminator.
/// patchelf writes entries sorted by name; callers that want byte-identical output sort first.
#[derive(Clone, Debug, Default)]
pub struct TableBuilder {
    body: Vec<u8>,
}

impl TableBuilder {
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// Add `needed` with its items. Checked exactly as the reader checks (by parsing the one
    /// entry), so a built table always parses.
    pub fn push(&mut self, needed: &[u8], items: &[Item<'_>]) -> Result<(), BuildError> {
        if needed.is_empty() || needed.contains(&0) {
            return Err(BuildError::BadNeeded(ParseError::Unterminated));
        }
        for item in items {
            if item.path().contains(&0) || item.path().contains(&b':') {
                return Err(BuildError::BadPath(ParseError::BadItem));
            }
        }
        let mut entry = Vec::with_capacity(needed.len() + 2 + items.iter().map(|i| i.path().len() + 2).sum::<usize>());
        entry.extend_from_slice(needed);
        entry.push(0);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                entry.push(b':');
            }
            entry.push(item.prefix());
            entry.extend_from_slice(item.path());
        }
        entry.push(0);
        let start = entry.len();
        entry.push(0);
        Table::parse(&entry).map_err(|e| {
            // The name is at fault when it fails alone (with an empty list): the reader's own
            // rules decide, rather than a copy of them (which once missed DEL, 0x7f).
            let mut name_only = needed.to_vec();
            name_only.extend_from_slice(&[0, 0, 0]);
            if Table::parse(&name_only).is_err() {
                BuildError::BadNeeded(e)
            } else {
                BuildError::BadPath(e)
            }
        })?;
        entry.truncate(start);
        self.body.extend_from_slice(&entry);
        Ok(())
    }

    /// The descriptor: the entries and the terminating empty name.
    pub fn finish(mut self) -> Vec<u8> {
        self.body.push(0);
        self.body
    }
}

/// The whole note (header, owner, descriptor, 4-byte padding) as it sits in a `SHT_NOTE`
/// section or `PT_NOTE` segment, the layout patchelf writes: `namesz` 6 (`"NixOS\0"`, padded to
/// 8), `descsz` the descriptor's length, both padded to 4 bytes.
pub fn note_bytes(desc: &[u8]) -> Vec<u8> {
    let pad4 = |n: usize| (n + 3) & !3;
    let namesz = NOTE_OWNER.len() + 1;
    let mut note = Vec::with_capacity(12 + pad4(namesz) + pad4(desc.len()));
    note.extend_from_slice(&(namesz as u32).to_le_bytes());
    note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    note.extend_from_slice(&NOTE_TYPE.to_le_bytes());
    note.extend_from_slice(NOTE_OWNER);
    note.resize(12 + pad4(namesz), 0);
    note.extend_from_slice(desc);
    note.resize(12 + pad4(namesz) + pad4(desc.len()), 0);
    note
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn round_trip() {
        let mut b = TableBuilder::new();
        b.push(b"libc.so", &[Item::Dir(b"$ORIGIN/../s1"), Item::Dir(b"/nonexist")]).unwrap();
        b.push(b"libs2.so", &[Item::Dir(b"$ORIGIN/../s1"), Item::File(b"/store/s2/libs2.so")]).unwrap();
        b.push(b"libempty.so", &[]).unwrap();
        let desc = b.finish();
        assert_eq!(
            desc,
            b"libc.so\0?$ORIGIN/../s1:?/nonexist\0libs2.so\0?$ORIGIN/../s1:=/store/s2/libs2.so\0libempty.so\0\0\0"
        );
        let t = Table::parse(&desc).unwrap();
        let got: vec::Vec<_> = t.entries().map(|e| (e.needed, e.items.collect::<vec::Vec<_>>())).collect();
        assert_eq!(got[1], (&b"libs2.so"[..], vec![Item::Dir(b"$ORIGIN/../s1"), Item::File(b"/store/s2/libs2.so")]));
        assert_eq!(got[2].1, []);
    }

    #[test]
    fn empty_table() {
        assert_eq!(TableBuilder::new().finish(), b"\0");
        assert!(Table::parse(&TableBuilder::new().finish()).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_the_reader_rejects() {
        let mut b = TableBuilder::new();
        assert!(matches!(b.push(b"", &[]), Err(BuildError::BadNeeded(_))));
        assert!(matches!(b.push(b"a\0b", &[]), Err(BuildError::BadNeeded(_))));
        assert!(matches!(b.push(b"a\nb", &[]), Err(BuildError::BadNeeded(ParseError::NotText))));
        assert!(matches!(b.push(b"a", &[Item::File(b"/x:y")]), Err(BuildError::BadPath(_))));
        assert!(matches!(b.push(b"a", &[Item::File(b"")]), Err(BuildError::BadPath(_))));
        assert!(matches!(b.push(b"a", &[Item::Dir(b"/\xff")]), Err(BuildError::BadPath(ParseError::NotText))));
        assert!(matches!(b.push(&[b'n'; 256], &[]), Err(BuildError::BadNeeded(ParseError::NeededTooLong))));
        // DEL is a control character: the name is at fault, not the (valid or absent) path.
        assert_eq!(b.push(b"a\x7f", &[]), Err(BuildError::BadNeeded(ParseError::NotText)));
        assert_eq!(b.push(b"a\x7f", &[Item::File(b"/x")]), Err(BuildError::BadNeeded(ParseError::NotText)));
        assert_eq!(b.push(b"a", &[Item::File(b"/x\x7f")]), Err(BuildError::BadPath(ParseError::NotText)));
        // Nothing half-written: the refused entries left no bytes.
        assert_eq!(b.finish(), b"\0");
    }

    /// The layout patchelf 0.19.3 wrote: namesz 6, descsz unpadded, type, "NixOS\0\0\0".
    #[test]
    fn note_layout() {
        let note = note_bytes(b"a\0=/a\0\0");
        assert_eq!(&note[..12], &[6, 0, 0, 0, 7, 0, 0, 0, 0xb6, 0x6c, 0xa8, 0x63]);
        assert_eq!(&note[12..20], b"NixOS\0\0\0");
        assert_eq!(&note[20..27], b"a\0=/a\0\0");
        assert_eq!(note.len(), 28);
    }
}
