//! Step 3 of design.md §5: the requester's resolution table (`.note.nixos.ldcache`, decoded by
//! `stormless_ldcache`), turned into the pathnames to open. Consulted after `LD_LIBRARY_PATH`
//! and before the rpaths; the first item that opens wins, and when none does the full search
//! runs as if there were no table.
//!
//! An item stands for exactly what the uncached search would open at that point: `=file` is a
//! `dir/name` that existed at embed time, `?dir` is one rpath directory probed now, with
//! `$ORIGIN` expanded by the same [`expand_rpath`] as the rpath it came from, so secure mode
//! drops the main program's `?$ORIGIN` items exactly as it drops its `$ORIGIN` rpaths.

use stormless_ldcache::Item;

use crate::pathlist::join_into;
use crate::rpath::{expand_rpath, needs_exe_link, Expanded, IgnoredBecause, Origin};
use crate::LOAD_LIBRARY_BUF_SIZE;

/// Why an item gives nothing to open. None of these is an error: the next item is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkippedBecause {
    /// An empty `?` item (patchelf's rendering of an empty RUNPATH entry): musl's `path_open`
    /// skips empty entries.
    EmptyDir,
    /// `dir/name` (or an `=file`) does not fit musl's `load_library` buffer, which `path_open`
    /// skips too.
    TooLong,
    /// `$ORIGIN` cannot be expanded here: the same reasons [`expand_rpath`] gives for a rpath.
    Origin(IgnoredBecause),
    /// `readlink("/proc/self/exe")` failed; the full search will meet (and report) the same.
    ExeLinkFailed(i32),
    /// The loader could not allocate the pathname.
    OutOfMemory,
}

/// Whether the loader must know the kernel-mapped main program's `/proc/self/exe` target to
/// use `item`, so that `readlink` is issued only for an item that needs it.
pub fn item_needs_exe_link(item: Item<'_>, secure: bool) -> bool {
    matches!(item, Item::Dir(dir) if needs_exe_link(dir, secure))
}

/// The pathname `item` stands for when the requester looks for `name`, written into `buf`,
/// musl's `load_library` buffer, followed by a NUL: the pathname's length. `origin` is the
/// requester's, as for its rpath (see [`Origin`]); it is only read for a `?` item holding
/// `$ORIGIN`. Every pathname must fit it as every candidate of `path_open` must
/// (an `=file` item is a `dir/name` that did), so the search allocates nothing.
pub fn table_item_path_into(
    item: Item<'_>,
    name: &[u8],
    origin: Origin<'_>,
    secure: bool,
    buf: &mut [u8; LOAD_LIBRARY_BUF_SIZE],
) -> Result<usize, SkippedBecause> {
    match item {
        Item::File(file) => {
            let Some(room) = buf.get_mut(..=file.len()) else { return Err(SkippedBecause::TooLong) };
            room[..file.len()].copy_from_slice(file);
            room[file.len()] = 0;
            Ok(file.len())
        }
        Item::Dir(b"") => Err(SkippedBecause::EmptyDir),
        Item::Dir(dir) => {
            let expanded = expand_rpath(Some(dir), origin, secure);
            let dir = match &expanded {
                Expanded::Verbatim(d) => *d,
                Expanded::Substituted(d) => d.as_slice(),
                Expanded::Ignored(why) => return Err(SkippedBecause::Origin(*why)),
                Expanded::ExeLinkFailed(e) => return Err(SkippedBecause::ExeLinkFailed(*e)),
                Expanded::OutOfMemory => return Err(SkippedBecause::OutOfMemory),
                Expanded::Absent => unreachable!("expand_rpath(Some(_)) is never Absent"),
            };
            // `path_open`'s rule: `dir/name` and its NUL must fit musl's buffer.
            join_into(dir, name, buf).ok_or(SkippedBecause::TooLong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// The pathname as bytes (without its NUL), or why there is none.
    fn table_item_path(
        item: Item<'_>,
        name: &[u8],
        origin: Origin<'_>,
        secure: bool,
    ) -> Result<Vec<u8>, SkippedBecause> {
        let mut buf = [0u8; LOAD_LIBRARY_BUF_SIZE];
        let len = table_item_path_into(item, name, origin, secure, &mut buf)?;
        assert_eq!(buf[len], 0, "a NUL after the pathname");
        Ok(buf[..len].to_vec())
    }

    #[test]
    fn file_items_are_opened_as_written() {
        let p = table_item_path(Item::File(b"/s/1/liba.so"), b"liba.so", Origin::ExeLinkUnavailable, true);
        assert_eq!(p.unwrap(), b"/s/1/liba.so");
    }

    #[test]
    fn dir_items_join_like_path_open() {
        let p = table_item_path(Item::Dir(b"/s/2/"), b"liba.so", Origin::ObjectName(b"/x/l.so"), false);
        assert_eq!(p.unwrap(), b"/s/2//liba.so");
        let long = [b'd'; 256];
        let p = table_item_path(Item::Dir(&long), &[b'n'; 255], Origin::ObjectName(b"/x/l.so"), false);
        assert_eq!(p, Err(SkippedBecause::TooLong));
    }

    /// A file item is opened from the same buffer: one that cannot fit it is skipped, as a
    /// candidate of that length would be.
    #[test]
    fn file_items_fit_the_buffer() {
        let mut buf = [0xffu8; LOAD_LIBRARY_BUF_SIZE];
        let n =
            table_item_path_into(Item::File(b"/s/liba.so"), b"liba.so", Origin::ExeLinkUnavailable, false, &mut buf);
        assert_eq!((n, &buf[..11]), (Ok(10), &b"/s/liba.so\0"[..]));
        let long = [b'f'; LOAD_LIBRARY_BUF_SIZE];
        assert_eq!(
            table_item_path(Item::File(&long[1..]), b"f", Origin::ExeLinkUnavailable, false).unwrap().len(),
            511
        );
        let p = table_item_path(Item::File(&long), b"f", Origin::ExeLinkUnavailable, false);
        assert_eq!(p, Err(SkippedBecause::TooLong));
    }

    #[test]
    fn empty_dir_items_are_skipped() {
        let p = table_item_path(Item::Dir(b""), b"liba.so", Origin::ObjectName(b"/x/l.so"), false);
        assert_eq!(p, Err(SkippedBecause::EmptyDir));
    }

    #[test]
    fn origin_like_the_rpath_it_came_from() {
        let lib = Origin::ObjectName(b"/store/a/lib/liba.so");
        let p = table_item_path(Item::Dir(b"$ORIGIN/../../b/lib"), b"libb.so", lib, false);
        assert_eq!(p.unwrap(), b"/store/a/lib/../../b/lib/libb.so");
        // The main program in secure mode: its $ORIGIN items are not used (design.md §5).
        let main = Origin::ExeLink(b"/opt/bin/prog");
        let p = table_item_path(Item::Dir(b"$ORIGIN/../lib"), b"libb.so", main, true);
        assert_eq!(p, Err(SkippedBecause::Origin(IgnoredBecause::SecureMainProgram)));
        let p = table_item_path(Item::Dir(b"$ORIGIN/../lib"), b"libb.so", main, false);
        assert_eq!(p.unwrap(), b"/opt/bin/../lib/libb.so");
        // A library's $ORIGIN items still count in secure mode, as its rpath does.
        assert!(table_item_path(Item::Dir(b"$ORIGIN"), b"libb.so", lib, true).is_ok());
        let p = table_item_path(Item::Dir(b"$LIB/x"), b"libb.so", lib, false);
        assert_eq!(p, Err(SkippedBecause::Origin(IgnoredBecause::UnsupportedToken)));
        let p = table_item_path(Item::Dir(b"$ORIGIN"), b"libb.so", Origin::ExeLinkFailed(5), false);
        assert_eq!(p, Err(SkippedBecause::ExeLinkFailed(5)));
    }

    #[test]
    fn readlink_only_for_origin_dirs() {
        assert!(item_needs_exe_link(Item::Dir(b"$ORIGIN/lib"), false));
        assert!(!item_needs_exe_link(Item::Dir(b"$ORIGIN/lib"), true));
        assert!(!item_needs_exe_link(Item::Dir(b"/lib"), false));
        assert!(!item_needs_exe_link(Item::File(b"/$ORIGIN/lib"), false));
    }
}
