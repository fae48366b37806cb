//! The invariant every rewrite keeps, checked on the new bytes before anything is replaced:
//! every byte of every original segment is present, unchanged, at its place — where it was,
//! or where the rewrite says it moved it — except the few ranges the rewrite says it edits
//! (the ELF header, the old program header table, the dynamic entries that point at moved
//! data, the old note). A rewrite that overwrote anything else (the `.interp` after the
//! program headers of a file without section headers, say) is caught here, and the file is
//! left as it was.
//!
//! The check does not trust the layout code that made the plan: it compares bytes.
//! [`verify_meaning`] then reads the result back as the loader would: the same interpreter,
//! needed names, search paths and dynamic tags, and every segment other than `PT_LOAD` (the
//! interpreter string, notes, the dynamic section) found again, by a header of its type and
//! size, where its bytes now are.

use std::ops::Range;

use anyhow::{bail, Result};

use crate::elf_image::ElfImage;

/// Bytes the rewrite copied elsewhere: `len` bytes from `from` in the original are at `to` in
/// the new file. Their old place may hold anything afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    pub from: u64,
    pub to: u64,
    pub len: u64,
}

/// What a rewrite claims to have done to the original's bytes; everything else is unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub moves: Vec<Move>,
    /// Original ranges whose bytes the rewrite replaced on purpose (in original offsets).
    pub edits: Vec<Range<u64>>,
}

impl Plan {
    pub fn edit(&mut self, start: u64, len: u64) {
        self.edits.push(start..start.saturating_add(len));
    }
}

/// What happens to one original byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Kept,
    Edited,
    /// Moved by this many bytes (wrapping: a move may go down).
    Moved(u64),
}

impl Plan {
    fn fate(&self, offset: u64) -> Fate {
        if self.edits.iter().any(|e| e.contains(&offset)) {
            return Fate::Edited;
        }
        match self.moves.iter().find(|m| offset >= m.from && offset - m.from < m.len) {
            Some(m) => Fate::Moved(m.to.wrapping_sub(m.from)),
            None => Fate::Kept,
        }
    }

    /// The offsets in `range` where a byte's fate may change, in order, with both ends.
    fn boundaries(&self, range: &Range<u64>) -> Vec<u64> {
        let mut points = vec![range.start, range.end];
        let ends = self.edits.iter().flat_map(|e| [e.start, e.end]);
        let ends = ends.chain(self.moves.iter().flat_map(|m| [m.from, m.from.saturating_add(m.len)]));
        points.extend(ends.filter(|p| range.contains(p)));
        points.sort_unstable();
        points.dedup();
        points
    }
}

/// Check `new` against `original` under `plan`; the error names the first byte that differs.
pub fn verify(original: &ElfImage, new: &[u8], plan: &Plan) -> Result<()> {
    for (index, segment) in original.segments.iter().enumerate() {
        let range = segment.p_offset..segment.file_end();
        let points = plan.boundaries(&range);
        for piece in points.windows(2) {
            let (start, end) = (piece[0], piece[1]);
            let at = match plan.fate(start) {
                Fate::Edited => continue,
                Fate::Kept => start,
                Fate::Moved(by) => start.wrapping_add(by),
            };
            let old = &original.data[start as usize..end as usize];
            let len = end - start;
            let found = usize::try_from(at)
                .ok()
                .zip(usize::try_from(at.saturating_add(len)).ok())
                .and_then(|(from, to)| new.get(from..to));
            if found != Some(old) {
                let first = match found {
                    Some(found) => start + found.iter().zip(old).position(|(a, b)| a != b).unwrap_or(0) as u64,
                    None => start,
                };
                bail!(
                    "internal error: the rewrite would damage the file: byte {first:#x} of segment {index} \
                     (type {:#x}) is not kept at its place; nothing was written",
                    segment.p_type
                );
            }
        }
    }
    Ok(())
}

/// Everything a rewrite of `original` must pass before the file is replaced: its bytes keep
/// the original's ([`verify`]), they read back ([`ElfImage::parse`]) with the same meaning
/// ([`verify_meaning`]), and they carry exactly the table `desc`. One sequence for `embed` and
/// its fuzzer alike. Returns the result as read back.
pub fn check_rewrite(original: &ElfImage, rewritten: &crate::rewrite::Rewritten, desc: &[u8]) -> Result<ElfImage> {
    verify(original, &rewritten.bytes, &rewritten.plan)?;
    let again = ElfImage::parse(rewritten.bytes.clone()).map_err(|_| {
        anyhow::anyhow!(
            "cannot rewrite safely: the result does not read back (its headers disagree about what lies where); \
             nothing was written"
        )
    })?;
    verify_meaning(original, &again, &rewritten.plan, original.ldcache_note().map(|n| n.segment))?;
    anyhow::ensure!(
        again.ldcache_note().map(|n| n.desc.as_slice()) == Some(desc),
        "internal error: the rewritten file does not carry the table"
    );
    Ok(again)
}

/// The rewritten file `new`, decoded, means what `original` meant: see the module comment.
/// `replaced_note` is the index of the `PT_NOTE` whose table the rewrite replaces, if any.
pub fn verify_meaning(original: &ElfImage, new: &ElfImage, plan: &Plan, replaced_note: Option<usize>) -> Result<()> {
    let same = |what: &str, equal: bool| {
        if equal {
            Ok(())
        } else {
            bail!(
                "cannot rewrite safely: the result would change the file's {what} (its headers disagree about \
                 what lies where); nothing was written"
            )
        }
    };
    same("interpreter", original.interp == new.interp)?;
    same("needed libraries", original.needed == new.needed)?;
    same("search path", original.rpath == new.rpath && original.runpath == new.runpath)?;
    let tags = |image: &ElfImage| image.dynamic.iter().map(|d| d.tag).collect::<Vec<_>>();
    same("dynamic section", tags(original) == tags(new))?;
    // Every other segment's header must lead to where its bytes are now ([`verify`] checks
    // the bytes themselves), by file offset and, through the new PT_LOADs, by address.
    let mut unmatched: Vec<&crate::elf_image::Segment> = new.segments.iter().collect();
    let kept = original.segments.iter().enumerate().filter(|(i, s)| {
        !s.is_load() && s.p_type != object::elf::PT_PHDR.0 && s.p_filesz > 0 && Some(*i) != replaced_note
    });
    for (index, segment) in kept {
        let moved = plan.moves.iter().find(|m| segment.p_offset >= m.from && segment.p_offset - m.from < m.len);
        let at = moved.map_or(segment.p_offset, |m| m.to.wrapping_add(segment.p_offset - m.from));
        // Where the original's address led to its bytes through a PT_LOAD, the new one must lead
        // to their new place; an address that led nowhere stays as it was.
        let mapped = original.offset_of_address(segment.p_vaddr) == Some(segment.p_offset);
        let leads_there = |s: &&crate::elf_image::Segment| {
            let address_ok = match mapped {
                true => new.offset_of_address(s.p_vaddr) == Some(at),
                false => s.p_vaddr == segment.p_vaddr,
            };
            s.p_type == segment.p_type && s.p_filesz == segment.p_filesz && s.p_offset == at && address_ok
        };
        match unmatched.iter().position(leads_there) {
            Some(found) => {
                unmatched.swap_remove(found);
            }
            None => bail!(
                "cannot rewrite safely: the result would lose segment {index} (type {:#x}) (its headers disagree \
                 about what lies where); nothing was written",
                segment.p_type
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf_image::Segment;

    fn image(data: Vec<u8>, segments: &[(u64, u64)]) -> ElfImage {
        let segments = segments
            .iter()
            .map(|&(p_offset, p_filesz)| Segment {
                p_type: 1,
                p_flags: 4,
                p_offset,
                p_vaddr: p_offset,
                p_paddr: p_offset,
                p_filesz,
                p_memsz: p_filesz,
                p_align: 1,
            })
            .collect();
        ElfImage::for_tests(data, segments)
    }

    #[test]
    fn unchanged_bytes_pass_and_a_changed_byte_is_named() {
        let old = image((0..64).collect(), &[(0, 64)]);
        verify(&old, &old.data, &Plan::default()).unwrap();
        let mut new = old.data.clone();
        new.push(99); // appended data is not the original's concern
        verify(&old, &new, &Plan::default()).unwrap();
        new[40] = 0;
        let e = verify(&old, &new, &Plan::default()).unwrap_err().to_string();
        assert!(e.contains("byte 0x28 of segment 0"), "{e}");
        let mut plan = Plan::default();
        plan.edit(40, 1);
        verify(&old, &new, &plan).unwrap();
    }

    #[test]
    fn moved_bytes_must_be_found_at_their_new_place() {
        let old = image((0..64).collect(), &[(0, 64), (16, 8)]);
        let mut new = old.data.clone();
        new.resize(128, 0);
        new.copy_within(16..24, 100);
        new[16..24].fill(0xee); // the old place may be reused
        let plan = Plan { moves: vec![Move { from: 16, to: 100, len: 8 }], edits: vec![] };
        verify(&old, &new, &plan).unwrap();
        new[103] ^= 1;
        let e = verify(&old, &new, &plan).unwrap_err().to_string();
        assert!(e.contains("byte 0x13"), "{e}");
        // A move past the end of the new bytes is a failure, not a panic.
        let far = Plan { moves: vec![Move { from: 16, to: u64::MAX - 2, len: 8 }], edits: vec![] };
        assert!(verify(&old, &new, &far).is_err());
    }

    #[test]
    fn edits_win_over_moves_and_a_truncated_file_fails() {
        let old = image((0..64).collect(), &[(0, 64)]);
        let mut new = old.data.clone();
        new.resize(200, 0);
        new.copy_within(0..64, 128);
        new[130] = 0xff;
        let mut plan = Plan { moves: vec![Move { from: 0, to: 128, len: 64 }], edits: vec![] };
        assert!(verify(&old, &new, &plan).is_err());
        plan.edit(2, 1);
        verify(&old, &new, &plan).unwrap();
        assert!(verify(&old, &old.data[..32], &Plan::default()).is_err());
    }
}
