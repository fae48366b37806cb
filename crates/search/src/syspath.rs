//! The system path: `<prefix>/etc/ld-musl-<arch>.path`, or musl's built-in default.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;

use crate::errno::ENOENT;
use crate::PATH_MAX;

/// The system path when the path file does not exist (1.2.3 dynlink.c:1098).
pub const DEFAULT_SYS_PATH: &[u8] = b"/lib:/usr/local/lib:/usr/lib";

/// The path file musl reads, computed from the loader's name as `load_library` does
/// (1.2.3 dynlink.c:1064–1081): if `ldso_name` is absolute, the prefix is everything before its
/// second-to-last `/` (`/usr/local/musl/lib/ld-musl-x86_64.so.1` gives `/usr/local/musl`,
/// `/lib/ld-musl-x86_64.so.1` gives the empty prefix), provided that prefix is shorter than
/// `PATH_MAX`; otherwise (relative name, e.g. the initial `"libc.so"`) the prefix is empty.
/// `ldso_arch` is musl's `LDSO_ARCH`: `x86_64`, `aarch64`, `armhf`, … (the same string as in
/// the loader's own name).
///
/// `ldso_name` is `ldso.name` at the time of the first search that reaches the system path:
/// the main program's PT_INTERP, or argv\[0\] when the loader runs as a command.
pub fn sys_path_file(ldso_name: &[u8], ldso_arch: &str) -> Result<Vec<u8>, TryReserveError> {
    let prefix: &[u8] = if ldso_name.first() == Some(&b'/') {
        // `for (s=t=z=ldso.name; *s; s++) if (*s=='/') z=t, t=s;`: z ends at the second-to-last
        // '/', or at the start when there are fewer than two.
        let mut last = 0;
        let mut second_last = 0;
        for (i, _) in ldso_name.iter().enumerate().filter(|&(_, &b)| b == b'/') {
            second_last = last;
            last = i;
        }
        if second_last < PATH_MAX {
            &ldso_name[..second_last]
        } else {
            b""
        }
    } else {
        b""
    };
    let mut file = Vec::new();
    file.try_reserve_exact(prefix.len() + ldso_arch.len() + 18)?;
    file.extend_from_slice(prefix);
    file.extend_from_slice(b"/etc/ld-musl-");
    file.extend_from_slice(ldso_arch.as_bytes());
    file.extend_from_slice(b".path");
    Ok(file)
}

/// What happened when the loader tried to read the path file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysPathFile<'a> {
    /// The file opened; its first `st_size` bytes as `read_loop` got them (an `fstat` failure
    /// means zero bytes, 1.2.3 dynlink.c:1086).
    Read(&'a [u8]),
    /// `open` failed with ENOENT.
    Missing,
    /// `open` failed with any other errno, or the allocation or the read failed.
    Unusable,
}

impl SysPathFile<'_> {
    /// The state for a failed `open` with this errno (1.2.3 dynlink.c:1082–1096).
    pub const fn open_failed(errno: i32) -> Self {
        if errno == ENOENT {
            SysPathFile::Missing
        } else {
            SysPathFile::Unusable
        }
    }
}

/// The system path list musl searches, from the path file's fate (1.2.3 dynlink.c:1082–1098):
///
/// - the file's bytes are used whole: nothing is stripped, because `\n` separates entries like
///   `:` and a trailing newline is just an empty entry (see [`PathList`](crate::PathList)); the
///   buffer is a C string, so it ends at the first NUL byte;
/// - an empty file gives an empty path: *no* system directory is searched, not the default;
/// - only a missing file (ENOENT) gives [`DEFAULT_SYS_PATH`]; any other failure (EACCES,
///   ENOTDIR, a read error) gives the empty path.
///
/// musl computes this once, at the first search that reaches it, and keeps it for the
/// process's lifetime.
pub fn sys_path(file: SysPathFile<'_>) -> &[u8] {
    match file {
        SysPathFile::Read(bytes) => &bytes[..bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len())],
        SysPathFile::Missing => DEFAULT_SYS_PATH,
        SysPathFile::Unusable => b"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::{EACCES, ENOTDIR};
    use crate::PathList;
    use std::vec;
    use std::vec::Vec;

    /// dynlink.c:1066–1081: prefix up to the second-to-last '/'.
    #[test]
    fn path_file_location() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/lib/ld-musl-x86_64.so.1", b"/etc/ld-musl-x86_64.path"),
            (b"/usr/local/musl/lib/ld-musl-x86_64.so.1", b"/usr/local/musl/etc/ld-musl-x86_64.path"),
            (b"/ld-musl-x86_64.so.1", b"/etc/ld-musl-x86_64.path"),
            (b"//ld", b"/etc/ld-musl-x86_64.path"),
            (b"/a//ld", b"/a/etc/ld-musl-x86_64.path"),
            (b"/x/y/", b"/x/etc/ld-musl-x86_64.path"),
            (b"libc.so", b"/etc/ld-musl-x86_64.path"),
            (b"./lib/ld-musl-x86_64.so.1", b"/etc/ld-musl-x86_64.path"),
            (b"lib/ld", b"/etc/ld-musl-x86_64.path"),
        ];
        for &(ldso, file) in cases {
            assert_eq!(sys_path_file(ldso, "x86_64").unwrap(), file, "{}", ldso.escape_ascii());
        }
        assert_eq!(sys_path_file(b"/opt/m/lib/ld-musl-armhf.so.1", "armhf").unwrap(), b"/opt/m/etc/ld-musl-armhf.path");
    }

    /// dynlink.c:1071: `prefix_len < PATH_MAX`, else the empty prefix.
    #[test]
    fn path_file_prefix_length_limit() {
        let mut name = vec![b'/'];
        name.extend_from_slice(&[b'p'; 4094]); // prefix "/ppp…" of 4095 bytes
        name.extend_from_slice(b"/lib/ld");
        let mut expected = name[..4095].to_vec();
        expected.extend_from_slice(b"/etc/ld-musl-aarch64.path");
        assert_eq!(sys_path_file(&name, "aarch64").unwrap(), expected);
        name.insert(1, b'p'); // prefix of 4096 bytes
        assert_eq!(sys_path_file(&name, "aarch64").unwrap(), b"/etc/ld-musl-aarch64.path");
    }

    /// dynlink.c:1082–1098: file contents verbatim; missing → default; other failures → "".
    #[test]
    fn path_file_contents() {
        assert_eq!(sys_path(SysPathFile::Read(b"/opt/lib\n/usr/lib\n")), b"/opt/lib\n/usr/lib\n");
        let dirs: Vec<&[u8]> = PathList::new(sys_path(SysPathFile::Read(b"/opt/lib\n\n/usr/lib\n"))).collect();
        assert_eq!(dirs, vec![&b"/opt/lib"[..], b"/usr/lib"]);
        assert_eq!(sys_path(SysPathFile::Read(b"/a\0/b")), b"/a");
        assert_eq!(sys_path(SysPathFile::Read(b"")), b"");
        assert_eq!(sys_path(SysPathFile::open_failed(ENOENT)), DEFAULT_SYS_PATH);
        assert_eq!(sys_path(SysPathFile::open_failed(EACCES)), b"");
        assert_eq!(sys_path(SysPathFile::open_failed(ENOTDIR)), b"");
        assert_eq!(sys_path(SysPathFile::Unusable), b"");
    }
}
