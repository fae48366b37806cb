//! Byte scans a machine word at a time. The loader validates a table and skips entries by
//! searching for NULs and `:`; a byte loop cost about 20 instructions a byte to validate the
//! 18 KiB table of a program needing 160 store libraries, more than the loader's whole work
//! for one of them. Safe code: words are read with `from_le_bytes`, the first byte in memory
//! the least significant, whatever the machine's byte order.

const WORD: usize = core::mem::size_of::<usize>();
/// `0x0101…01`: a byte value times this repeats it in every byte.
const ONES: usize = usize::MAX / 0xff;
/// `0x8080…80`: the high bit of every byte.
const HIGHS: usize = ONES << 7;

/// A word of bytes, the first in memory the least significant.
fn word(chunk: &[u8]) -> usize {
    usize::from_le_bytes(chunk.try_into().unwrap_or_default())
}

/// The high bit set in the bytes of `w` below `n` (`n` ≤ 0x80), and maybe in bytes above such
/// a byte (a borrow), never in others: the lowest such byte borrows nothing from the bytes under
/// it, which are all ≥ `n`. So: whether there is one, and which is the lowest.
const fn bytes_below(w: usize, n: u8) -> usize {
    w.wrapping_sub(ONES * n as usize) & !w & HIGHS
}

const fn zero_bytes(w: usize) -> usize {
    bytes_below(w, 1)
}

/// The high bit set in the bytes of `w` above 0x7e (DEL or not ASCII), and maybe in the byte
/// after one ≥ 0x80 (its carry), never in others: the lowest marked byte is the first.
const fn bytes_above_tilde(w: usize) -> usize {
    (w.wrapping_add(ONES) | w) & HIGHS
}

/// The position of the first byte of `bytes` that ends a field — a NUL; a `:` when
/// `colon_ends` (a path list's separator: a name may hold one); any byte but printable ASCII
/// (0x20–0x7e) when `printable_only` — or `bytes.len()` when none does. One function for every
/// scan, so that the loader carries one copy.
#[inline(never)]
pub(crate) fn field_end(bytes: &[u8], colon_ends: bool, printable_only: bool) -> usize {
    // Without `colon_ends`, the second XOR finds the NULs again.
    let colons = if colon_ends { ONES * b':' as usize } else { 0 };
    let unprintable = if printable_only { HIGHS } else { 0 };
    // Each mask's lowest mark is exact, so the lowest of them all is the field's end.
    let ends =
        |w: usize| zero_bytes(w) | zero_bytes(w ^ colons) | (bytes_below(w, 0x20) | bytes_above_tilde(w)) & unprintable;
    let mut chunks = bytes.chunks_exact(WORD);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let marks = ends(word(chunk));
        if marks != 0 {
            return i * WORD + marks.trailing_zeros() as usize / 8;
        }
    }
    // The last bytes, padded with NULs: a NUL ends every field, so there is an end, and one
    // found in the padding means `bytes.len()`.
    let tail = chunks.remainder();
    let mut padded = [0; WORD];
    for (to, &from) in padded.iter_mut().zip(tail) {
        *to = from;
    }
    let in_tail = ends(usize::from_le_bytes(padded)).trailing_zeros() as usize / 8;
    bytes.len() - tail.len() + in_tail.min(tail.len())
}

/// `bytes` up to the first NUL (or `:`, when `colon_ends`), and what follows that byte (None
/// when there is none).
pub(crate) fn split_field(bytes: &[u8], colon_ends: bool) -> (&[u8], Option<&[u8]>) {
    let end = field_end(bytes, colon_ends, false);
    (bytes.get(..end).unwrap_or_default(), bytes.get(end + 1..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Every byte value at every position of buffers of a few words, followed by each kind of
    /// byte (where borrows and carries land): the word scans agree with byte loops.
    #[test]
    fn agree_with_byte_loops() {
        let nexts: [u8; 6] = [b'a', 0x00, 0x7f, 0x80, 0xff, b':'];
        for len in 0..=3 * WORD + 1 {
            for at in 0..len {
                for value in 0..=255u8 {
                    for next in nexts {
                        let mut bytes = Vec::from_iter(core::iter::repeat_n(b'a', len));
                        bytes[at] = value;
                        if at + 1 < len {
                            bytes[at + 1] = next;
                        }
                        for colon_ends in [false, true] {
                            for printable_only in [false, true] {
                                let ends = |b: u8| {
                                    b == 0
                                        || (colon_ends && b == b':')
                                        || (printable_only && !(0x20..0x7f).contains(&b))
                                };
                                let want = bytes.iter().position(|&b| ends(b)).unwrap_or(len);
                                let end = field_end(&bytes, colon_ends, printable_only);
                                assert_eq!(end, want, "{bytes:?} {colon_ends} {printable_only}");
                            }
                        }
                    }
                }
            }
        }
    }
}
