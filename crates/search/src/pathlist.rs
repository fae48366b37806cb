//! Walking a musl path list (`LD_LIBRARY_PATH`, an expanded rpath, the system path) and
//! building each candidate pathname, exactly as `path_open` does.

use alloc::vec::Vec;

/// `INT_MAX`: `path_open` passes an entry's length to `%.*s` as an `int`, and its result through
/// `snprintf`'s `int` return value.
const INT_MAX: usize = i32::MAX as usize;

/// Whether `byte` separates path-list entries: `strspn(s, ":\n")` / `strcspn(s, ":\n")` in
/// `path_open` (1.2.3 dynlink.c:814–815). A newline separates entries like a colon does, which
/// is what lets `etc/ld-musl-ARCH.path` hold one directory per line.
pub const fn is_separator(byte: u8) -> bool {
    byte == b':' || byte == b'\n'
}

/// The directory entries of a path list, in the order `path_open` tries them
/// (1.2.3 dynlink.c:813–832):
///
/// - runs of separators are skipped, so empty entries (`a::b`, a leading or trailing `:`, blank
///   lines) are never tried — they do *not* mean the current directory;
/// - an entry is taken verbatim: no trimming of spaces, trailing slashes are kept (`/lib/` gives
///   `/lib//name`);
/// - the walk ends when nothing but separators is left (`l == 0`, so `l-1 >= INT_MAX` returns
///   -1), and also at an entry longer than `INT_MAX` (same test), without trying it or anything
///   after it;
/// - the list is a C string: it ends at the first NUL byte, if the slice holds one.
#[derive(Clone, Debug)]
pub struct PathList<'a> {
    rest: &'a [u8],
}

impl<'a> PathList<'a> {
    /// Walks `list`.
    pub fn new(list: &'a [u8]) -> Self {
        let end = list.iter().position(|&b| b == 0).unwrap_or(list.len());
        PathList { rest: &list[..end] }
    }
}

impl<'a> Iterator for PathList<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| !is_separator(b)).unwrap_or(self.rest.len());
        let rest = &self.rest[start..];
        let len = rest.iter().position(|&b| is_separator(b)).unwrap_or(rest.len());
        if entry_ends_walk(len) {
            self.rest = &[];
            return None;
        }
        let (entry, after) = rest.split_at(len);
        self.rest = after;
        Some(entry)
    }
}

/// `if (l-1 >= INT_MAX) return -1;` with `size_t l`: true for `l == 0` (wraps to `SIZE_MAX`) and
/// for `l > INT_MAX`.
const fn entry_ends_walk(len: usize) -> bool {
    len.wrapping_sub(1) >= INT_MAX
}

/// The candidate pathname `dir/name`, or `None` if `path_open` skips this entry.
///
/// Mirrors `snprintf(buf, buf_size, "%.*s/%s", (int)l, s, name) < buf_size`
/// (1.2.3 dynlink.c:817): the entry is tried only if `dir.len() + 1 + name.len()` is strictly
/// less than `buf_size`, i.e. the pathname and its NUL fit the buffer. A skipped entry is not
/// the end of the walk: `path_open` goes on to the next entry (`s += l`). A length above
/// `INT_MAX` makes `snprintf` fail with a negative return, which as a `size_t` is never below
/// `buf_size`: skipped as well.
///
/// `load_library` passes its `char buf[2*NAME_MAX+2]`, i.e.
/// [`LOAD_LIBRARY_BUF_SIZE`](crate::LOAD_LIBRARY_BUF_SIZE) = 512, for every list it walks, so a
/// candidate is at most 511 bytes long. `dir` and `name` must not contain NUL.
pub fn join(dir: &[u8], name: &[u8], buf_size: usize) -> Option<Vec<u8>> {
    let len = dir.len() + 1 + name.len();
    if len > INT_MAX || len >= buf_size {
        return None;
    }
    let mut buf = alloc::vec![0u8; len + 1];
    join_into(dir, name, &mut buf)?;
    buf.truncate(len);
    Some(buf)
}

/// [`join`] into the caller's buffer, as musl's `snprintf` into `buf`: the
/// pathname followed by a NUL, with `buf.len()` as `buf_size`. Returns the
/// pathname's length (without the NUL), or `None` where `path_open` skips the
/// entry. The loader builds every candidate this way, without allocating.
pub fn join_into(dir: &[u8], name: &[u8], buf: &mut [u8]) -> Option<usize> {
    let len = dir.len() + 1 + name.len();
    if len > INT_MAX || len >= buf.len() {
        return None;
    }
    buf[..dir.len()].copy_from_slice(dir);
    buf[dir.len()] = b'/';
    buf[dir.len() + 1..len].copy_from_slice(name);
    buf[len] = 0;
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LOAD_LIBRARY_BUF_SIZE;
    use std::vec;

    #[test]
    fn join_into_writes_the_pathname_and_its_nul() {
        let mut buf = [0xffu8; 16];
        assert_eq!(join_into(b"/lib", b"libz.so", &mut buf), Some(12));
        assert_eq!(&buf[..13], b"/lib/libz.so\0");
        // 12 bytes and the NUL must fit: a 12-byte buffer skips the entry, 13 bytes do not.
        assert_eq!(join_into(b"/lib", b"libz.so", &mut [0u8; 12]), None);
        assert_eq!(join_into(b"/lib", b"libz.so", &mut [0u8; 13]), Some(12));
    }

    fn entries(list: &[u8]) -> Vec<&[u8]> {
        PathList::new(list).collect()
    }

    /// strspn/strcspn over ":\n" (dynlink.c:814–815): both separate, runs are skipped.
    #[test]
    fn colon_and_newline_separate_entries() {
        assert_eq!(entries(b"/a:/b\n/c"), vec![&b"/a"[..], b"/b", b"/c"]);
        assert_eq!(entries(b"/a\n/b\n"), vec![&b"/a"[..], b"/b"]);
        assert_eq!(entries(b"/a\r\n/b"), vec![&b"/a\r"[..], b"/b"]);
    }

    /// Empty entries are skipped by strspn, not treated as ".": dynlink.c:814.
    #[test]
    fn empty_entries_are_skipped() {
        assert_eq!(entries(b"::/a::\n:/b:"), vec![&b"/a"[..], b"/b"]);
        assert_eq!(entries(b""), Vec::<&[u8]>::new());
        assert_eq!(entries(b":"), Vec::<&[u8]>::new());
        assert_eq!(entries(b"\n\n::\n"), Vec::<&[u8]>::new());
    }

    /// Entries are used verbatim: spaces, relative dirs and trailing slashes stay (dynlink.c:817
    /// prints `%.*s/%s`).
    #[test]
    fn entries_are_verbatim() {
        assert_eq!(entries(b" /a :lib:/b/"), vec![&b" /a "[..], b"lib", b"/b/"]);
        assert_eq!(join(b"/b/", b"libx.so", LOAD_LIBRARY_BUF_SIZE).unwrap(), b"/b//libx.so");
        assert_eq!(join(b"/", b"libx.so", LOAD_LIBRARY_BUF_SIZE).unwrap(), b"//libx.so");
        assert_eq!(join(b".", b"libx.so", LOAD_LIBRARY_BUF_SIZE).unwrap(), b"./libx.so");
    }

    /// The path list is a C string.
    #[test]
    fn list_ends_at_nul() {
        assert_eq!(entries(b"/a:/b\0:/c"), vec![&b"/a"[..], b"/b"]);
    }

    /// `l-1 >= INT_MAX` (dynlink.c:816): l == 0 ends the walk, and so does l > INT_MAX.
    #[test]
    fn walk_end_condition() {
        assert!(entry_ends_walk(0));
        assert!(!entry_ends_walk(1));
        assert!(!entry_ends_walk(INT_MAX));
        assert!(entry_ends_walk(INT_MAX + 1));
        assert!(entry_ends_walk(usize::MAX));
    }

    /// `snprintf(...) < buf_size` (dynlink.c:817): 511 bytes fit in 512, 512 do not; a skipped
    /// entry does not stop the walk.
    #[test]
    fn join_truncation_rule() {
        let name = [b'n'; 10];
        let fits = [b'd'; 500]; // 500 + 1 + 10 = 511
        let too_long = [b'd'; 501]; // 512
        assert_eq!(join(&fits, &name, 512).map(|p| p.len()), Some(511));
        assert_eq!(join(&too_long, &name, 512), None);
        assert_eq!(join(b"", b"x", 2), None);
        assert_eq!(join(b"", b"x", 3).unwrap(), b"/x");
        assert_eq!(join(b"/a", b"x", usize::MAX).unwrap(), b"/a/x");
    }

    /// An entry too long for the buffer is skipped but the next one is still tried.
    #[test]
    fn overlong_entry_is_skipped_not_fatal() {
        let mut list = vec![b'/'; 600];
        list.extend_from_slice(b":/lib");
        let tried: Vec<Vec<u8>> =
            PathList::new(&list).filter_map(|dir| join(dir, b"libz.so", LOAD_LIBRARY_BUF_SIZE)).collect();
        assert_eq!(tried, vec![b"/lib/libz.so".to_vec()]);
    }
}
