//! The errno values that steer musl's search, and which of them let it go on.
//!
//! They are defined here rather than taken from the `libc` crate so that the crate has no
//! dependencies; x86_64, aarch64 and arm all use the asm-generic numbering, which a test checks
//! against `/usr/include/asm-generic/errno-base.h` and `errno.h`.

/// No such file or directory.
pub const ENOENT: i32 = 2;
/// Permission denied.
pub const EACCES: i32 = 13;
/// Not a directory.
pub const ENOTDIR: i32 = 20;
/// Invalid argument: what `load_library` sets for an empty name.
pub const EINVAL: i32 = 22;
/// File name too long.
pub const ENAMETOOLONG: i32 = 36;

/// Whether a failed `open` of a candidate lets the search try the next one.
///
/// Mirrors the `switch (errno)` in `path_open` (1.2.3 dynlink.c:819–830, 1.2.5 :883–894):
/// ENOENT, ENOTDIR, EACCES and ENAMETOOLONG `break` out of the switch and the loop moves on;
/// any other errno makes `path_open` return -2, which `load_library` treats as "inhibit further
/// search": no later path-list entry, no ancestor's rpath and no system path is tried, and the
/// load fails with that errno.
pub const fn search_continues_after_open_error(errno: i32) -> bool {
    matches!(errno, ENOENT | ENOTDIR | EACCES | ENAMETOOLONG)
}

/// Whether a failed `readlink("/proc/self/exe")` merely makes the main program's `$ORIGIN` rpath
/// unusable (the rpath is ignored and the search goes on) rather than failing the search.
///
/// Mirrors the `switch (errno)` after `readlink` in `fixup_rpath` (1.2.3 dynlink.c:866–872,
/// 1.2.5 :930–936): only ENOENT, ENOTDIR and EACCES are tolerated (ENAMETOOLONG is *not*, unlike
/// in `path_open`); anything else returns -1 and aborts the search.
pub const fn exe_link_error_is_tolerated(errno: i32) -> bool {
    matches!(errno, ENOENT | ENOTDIR | EACCES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    /// Reads `#define NAME value` from a kernel header, so the constants are checked against the
    /// machine's headers rather than against a second hand-written table.
    fn header_value(path: &str, name: &str) -> i32 {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        for line in text.lines() {
            let mut words = line.split_whitespace();
            if words.next() == Some("#define") && words.next() == Some(name) {
                let value: String = words.next().expect("a value").into();
                return value.parse().unwrap_or_else(|e| panic!("{name} = {value}: {e}"));
            }
        }
        panic!("{name} not defined in {path}")
    }

    #[test]
    fn constants_match_asm_generic_headers() {
        let base = "/usr/include/asm-generic/errno-base.h";
        assert_eq!(ENOENT, header_value(base, "ENOENT"));
        assert_eq!(EACCES, header_value(base, "EACCES"));
        assert_eq!(ENOTDIR, header_value(base, "ENOTDIR"));
        assert_eq!(EINVAL, header_value(base, "EINVAL"));
        assert_eq!(ENAMETOOLONG, header_value("/usr/include/asm-generic/errno.h", "ENAMETOOLONG"));
    }

    /// path_open's switch: four errnos continue, anything else (EIO=5, ENOMEM=12, ELOOP=40,
    /// EMFILE=24) aborts the whole search.
    #[test]
    fn open_errors_that_continue_the_search() {
        for errno in [ENOENT, ENOTDIR, EACCES, ENAMETOOLONG] {
            assert!(search_continues_after_open_error(errno), "{errno}");
        }
        for errno in [1, 5, 12, 24, 40, EINVAL] {
            assert!(!search_continues_after_open_error(errno), "{errno}");
        }
    }

    /// fixup_rpath's readlink switch has no ENAMETOOLONG case.
    #[test]
    fn readlink_errors_that_are_tolerated() {
        for errno in [ENOENT, ENOTDIR, EACCES] {
            assert!(exe_link_error_is_tolerated(errno), "{errno}");
        }
        for errno in [ENAMETOOLONG, 5, 12, 40] {
            assert!(!exe_link_error_is_tolerated(errno), "{errno}");
        }
    }
}
