//! ELF notes (`PT_NOTE` segments, `SHT_NOTE` sections): `namesz`, `descsz`, `type`, then the
//! name and the descriptor, each padded to the note alignment.

use crate::consts::PT_LOAD;
use crate::error::Error;
use crate::read::{bytes_at, u32_at};

/// Whether a loader reads the notes of the `PT_NOTE` at `[vaddr, vaddr + filesz)`: only where
/// they are mapped, inside the file-backed part of a `PT_LOAD` (`segments`: `(p_type, p_vaddr,
/// p_filesz)` of every program header). The stormless loader reads its resolution table there
/// (`ld-so/src/table.rs`), and `stormless show`/`check` report the table this rule selects, so
/// the CLI never reports a table the loader ignores. Generic over the address width, so that a
/// 32-bit loader does 32-bit arithmetic.
#[inline]
pub fn note_is_mapped<A: Address>(vaddr: A, filesz: A, mut segments: impl Iterator<Item = (u32, A, A)>) -> bool {
    let Some(end) = vaddr.checked_add(filesz) else { return false };
    segments.any(|(typ, load_vaddr, load_filesz)| {
        typ == PT_LOAD
            && vaddr >= load_vaddr
            && load_vaddr.checked_add(load_filesz).is_some_and(|load_end| end <= load_end)
    })
}

/// An address or size as a program header holds it (`u64` in a file reader, `usize` in a loader).
pub trait Address: Copy + Ord {
    fn checked_add(self, other: Self) -> Option<Self>;
}

macro_rules! address {
    ($($t:ty),*) => {$(
        impl Address for $t {
            #[inline]
            fn checked_add(self, other: Self) -> Option<Self> {
                <$t>::checked_add(self, other)
            }
        }
    )*};
}
address!(u32, u64, usize);

/// The padding unit of a note area. Almost all notes use 4 bytes, even in ELF64; a segment or
/// section aligned to 8 (such as `.note.gnu.property` on 64-bit machines) uses 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteAlign {
    Four,
    Eight,
}

impl NoteAlign {
    /// From `p_align` or `sh_addralign`, as readelf and the kernel choose: 8 means 8, anything
    /// else means 4.
    pub fn from_segment_align(align: u64) -> NoteAlign {
        if align == 8 {
            NoteAlign::Eight
        } else {
            NoteAlign::Four
        }
    }

    pub const fn bytes(self) -> usize {
        match self {
            NoteAlign::Four => 4,
            NoteAlign::Eight => 8,
        }
    }

    fn round_up(self, n: usize) -> Option<usize> {
        let mask = self.bytes() - 1;
        Some(n.checked_add(mask)? & !mask)
    }
}

/// One note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Note<'a> {
    /// The owner name without its terminating NUL (e.g. `b"GNU"`, `b"NixOS"`).
    pub name: &'a [u8],
    /// `n_type`, whose meaning depends on the owner.
    pub kind: u32,
    pub desc: &'a [u8],
}

/// Iterator over the notes of a note area. A note whose name or descriptor runs past the end
/// of the area yields [`Error::BadNote`] once and ends the iteration; padding after the last
/// descriptor may be missing.
#[derive(Clone, Debug)]
pub struct Notes<'a> {
    rest: &'a [u8],
    align: NoteAlign,
}

impl<'a> Notes<'a> {
    pub fn new(bytes: &'a [u8], align: NoteAlign) -> Notes<'a> {
        Notes { rest: bytes, align }
    }

    fn parse_one(&self) -> Option<(Note<'a>, usize)> {
        let namesz = usize::try_from(u32_at(self.rest, 0)?).ok()?;
        let descsz = usize::try_from(u32_at(self.rest, 4)?).ok()?;
        let kind = u32_at(self.rest, 8)?;
        let name = bytes_at(self.rest, 12, namesz)?;
        let desc_at = self.align.round_up(12usize.checked_add(namesz)?)?;
        let desc = bytes_at(self.rest, desc_at, descsz)?;
        let next = self.align.round_up(desc_at.checked_add(descsz)?)?;
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        Some((Note { name, kind, desc }, next))
    }
}

impl<'a> Iterator for Notes<'a> {
    type Item = Result<Note<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match self.parse_one() {
            Some((note, next)) => {
                self.rest = self.rest.get(next..).unwrap_or(&[]);
                Some(Ok(note))
            }
            None => {
                self.rest = &[];
                Some(Err(Error::BadNote))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_note_is_read_only_inside_a_load_segments_file_bytes() {
        use super::note_is_mapped;
        let load = [(crate::consts::PT_LOAD, 0x1000u64, 0x200u64)];
        assert!(note_is_mapped(0x1100, 0x100, load.into_iter()));
        assert!(!note_is_mapped(0x1100, 0x101, load.into_iter()), "past the file bytes");
        assert!(!note_is_mapped(0x0f00, 0x10, load.into_iter()), "before the segment");
        assert!(!note_is_mapped(0x1100, 0x10, [(crate::consts::PT_NOTE, 0x1000u64, 0x200u64)].into_iter()));
        assert!(!note_is_mapped(u64::MAX, 2, load.into_iter()), "wrapping");
    }

    use super::*;
    use std::vec::Vec;

    fn note(align: usize, name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(name);
        while out.len() % align != 0 {
            out.push(0);
        }
        out.extend_from_slice(desc);
        while out.len() % align != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn notes_iterate_with_both_alignments() {
        for align in [NoteAlign::Four, NoteAlign::Eight] {
            let a = align.bytes();
            let mut area = note(a, b"GNU\0", 3, &[1, 2, 3, 4, 5]);
            area.extend(note(a, b"NixOS\0", 0x63a8_6cb6, b"table"));
            area.extend(note(a, b"", 7, b""));
            let notes: Vec<_> = Notes::new(&area, align).map(Result::unwrap).collect();
            assert_eq!(notes[0], Note { name: b"GNU", kind: 3, desc: &[1, 2, 3, 4, 5] });
            assert_eq!(notes[1], Note { name: b"NixOS", kind: 0x63a8_6cb6, desc: b"table" });
            assert_eq!(notes[2], Note { name: b"", kind: 7, desc: b"" });
            assert_eq!(notes.len(), 3);
        }
        // The 8-byte layout pads "GNU\0" (12 + 4 = 16) to 16 and the desc to 8.
        let area = note(8, b"GNU\0", 5, &[9; 12]);
        assert_eq!(area.len(), 32);
        assert_eq!(
            Notes::new(&area, NoteAlign::Eight).next(),
            Some(Ok(Note { name: b"GNU", kind: 5, desc: &[9; 12] }))
        );
        assert_eq!(NoteAlign::from_segment_align(8), NoteAlign::Eight);
        assert_eq!(NoteAlign::from_segment_align(4), NoteAlign::Four);
        assert_eq!(NoteAlign::from_segment_align(0), NoteAlign::Four);
    }

    #[test]
    fn notes_tolerate_missing_final_padding_and_reject_overruns() {
        let area = note(4, b"GNU\0", 1, &[1, 2, 3]);
        let unpadded = &area[..area.len() - 1];
        assert_eq!(Notes::new(unpadded, NoteAlign::Four).count(), 1);
        for cut in 1..area.len() - 1 {
            let results: Vec<_> = Notes::new(&area[..cut], NoteAlign::Four).collect();
            assert_eq!(results, [Err(Error::BadNote)], "cut at {cut}");
        }
        let mut huge = note(4, b"GNU\0", 1, &[]);
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Notes::new(&huge, NoteAlign::Eight).collect::<Vec<_>>(), [Err(Error::BadNote)]);
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Notes::new(&huge, NoteAlign::Four).collect::<Vec<_>>(), [Err(Error::BadNote)]);
    }
}
