//! String tables (`DT_STRTAB`, `.shstrtab`, …): NUL-terminated byte strings at offsets.

/// The string at `offset` in `strtab`, without its terminating NUL.
///
/// `None` when the offset is outside the table or no NUL follows it inside the table, so a
/// string can never run past the table's end. The bytes are returned as they are: ELF strings
/// have no guaranteed encoding.
pub fn cstr(strtab: &[u8], offset: u64) -> Option<&[u8]> {
    let tail = strtab.get(usize::try_from(offset).ok()?..)?;
    let len = tail.iter().position(|&b| b == 0)?;
    tail.get(..len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_nul_and_inside_the_table() {
        let t = b"\0libc.so\0m\0unterminated";
        assert_eq!(cstr(t, 0), Some(&b""[..]));
        assert_eq!(cstr(t, 1), Some(&b"libc.so"[..]));
        assert_eq!(cstr(t, 4), Some(&b"c.so"[..]));
        assert_eq!(cstr(t, 9), Some(&b"m"[..]));
        assert_eq!(cstr(t, 11), None);
        assert_eq!(cstr(t, t.len() as u64), None);
        assert_eq!(cstr(t, u64::MAX), None);
        assert_eq!(cstr(b"", 0), None);
    }
}
