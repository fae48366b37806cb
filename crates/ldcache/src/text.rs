//! What a table's names and paths may hold: UTF-8 text without control characters.
//!
//! A validator of its own rather than `core::str::from_utf8`: that one is built for speed on
//! long strings (500 bytes of the loader's code on x86_64), and here it only ever sees the rare
//! field that is not printable ASCII (`scan::field_end` passes those a word at a time). The
//! rules are Unicode's, as `from_utf8` applies them (no overlong forms, no surrogates, nothing
//! above U+10FFFF); the tests below compare the two on every sequence of up to three bytes and
//! on every four-byte one that starts like a four-byte character.

/// Whether `bytes` is valid UTF-8 without a control character (below 0x20, or DEL).
pub(crate) fn is_text(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((&lead, tail)) = rest.split_first() {
        // The continuation bytes after `lead`, and the smallest scalar value that needs them
        // (anything smaller is an overlong form).
        let (continuations, least, mut scalar) = match lead {
            0x20..=0x7e => (0, 0, 0),
            0xc2..=0xdf => (1, 0x80, u32::from(lead & 0x1f)),
            0xe0..=0xef => (2, 0x800, u32::from(lead & 0x0f)),
            0xf0..=0xf4 => (3, 0x1_0000, u32::from(lead & 0x07)),
            _ => return false,
        };
        let Some((following, after)) = tail.split_at_checked(continuations) else { return false };
        for &byte in following {
            if byte & 0xc0 != 0x80 {
                return false;
            }
            scalar = scalar << 6 | u32::from(byte & 0x3f);
        }
        if scalar < least || scalar > 0x10_ffff || (0xd800..=0xdfff).contains(&scalar) {
            return false;
        }
        rest = after;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(bytes: &[u8]) -> bool {
        core::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(|c| c < ' ' || c == '\x7f'))
    }

    #[test]
    fn agrees_with_from_utf8_up_to_three_bytes() {
        for a in 0..=255u8 {
            assert_eq!(is_text(&[a]), reference(&[a]), "{a:#x}");
            for b in 0..=255u8 {
                assert_eq!(is_text(&[a, b]), reference(&[a, b]), "{a:#x} {b:#x}");
                for c in 0..=255u8 {
                    let bytes = [a, b, c];
                    assert_eq!(is_text(&bytes), reference(&bytes), "{bytes:x?}");
                }
            }
        }
    }

    #[test]
    fn agrees_with_from_utf8_on_four_byte_leads() {
        for a in 0xf0..=0xf7u8 {
            for b in 0..=255u8 {
                for c in 0x70..=0xc0u8 {
                    for d in [0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff] {
                        let bytes = [a, b, c, d, b'x'];
                        assert_eq!(is_text(&bytes), reference(&bytes), "{bytes:x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn text_around_characters() {
        assert!(is_text("lib日本🦀ü.so".as_bytes()));
        assert!(is_text(b""));
        assert!(!is_text(b"a\x7f"));
        assert!(!is_text(b"a\nb"));
        assert!(!is_text(b"\xed\xa0\x80")); // a surrogate
        assert!(!is_text(b"\xf4\x90\x80\x80")); // above U+10FFFF
        assert!(!is_text(b"\xc0\xaf")); // overlong
    }
}
