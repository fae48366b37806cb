//! Little-endian reads that never panic: every helper returns `None` when the requested bytes
//! are not all inside the slice or when an offset computation would overflow.

use crate::header::Class;

/// `len` bytes at `offset`, if they are all inside `bytes`.
pub(crate) fn bytes_at(bytes: &[u8], offset: usize, len: usize) -> Option<&[u8]> {
    bytes.get(offset..offset.checked_add(len)?)
}

/// Like [`bytes_at`] for the 64-bit offsets and sizes ELF files carry; on a 32-bit host an
/// offset that does not fit `usize` cannot be inside any slice, so it yields `None` too.
pub(crate) fn bytes_at_u64(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    bytes_at(bytes, usize::try_from(offset).ok()?, usize::try_from(len).ok()?)
}

fn array_at<const N: usize>(bytes: &[u8], offset: usize) -> Option<[u8; N]> {
    bytes_at(bytes, offset, N)?.try_into().ok()
}

pub(crate) fn u8_at(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

pub(crate) fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    array_at(bytes, offset).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    array_at(bytes, offset).map(u32::from_le_bytes)
}

pub(crate) fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    array_at(bytes, offset).map(u64::from_le_bytes)
}

/// A word of the class (`Elf32_Addr`/`Elf32_Word` or their 64-bit versions), widened to u64.
pub(crate) fn word_at(bytes: &[u8], offset: usize, class: Class) -> Option<u64> {
    match class {
        Class::Elf32 => u32_at(bytes, offset).map(u64::from),
        Class::Elf64 => u64_at(bytes, offset),
    }
}

/// The `index`-th entry of `entry_size` bytes, if it is whole inside `bytes`.
pub(crate) fn entry(bytes: &[u8], index: usize, entry_size: usize) -> Option<&[u8]> {
    bytes_at(bytes, index.checked_mul(entry_size)?, entry_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_bounded() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(u16_at(&b, 0), Some(0x0201));
        assert_eq!(u32_at(&b, 1), Some(0x0504_0302));
        assert_eq!(u64_at(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(u64_at(&b, 2), None);
        assert_eq!(u32_at(&b, usize::MAX), None);
        assert_eq!(u8_at(&b, 9), None);
        assert_eq!(bytes_at(&b, 9, 0), Some(&[][..]));
        assert_eq!(bytes_at(&b, 10, 0), None);
        assert_eq!(bytes_at_u64(&b, u64::MAX, 1), None);
        assert_eq!(word_at(&b, 0, Class::Elf32), Some(0x0403_0201));
        assert_eq!(entry(&b, usize::MAX, 2), None);
        assert_eq!(entry(&b, 1, 4), Some(&b[4..8]));
    }
}
