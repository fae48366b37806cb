//! An object's search path from its dynamic section, and its `$ORIGIN` expansion as
//! `fixup_rpath` does it.

use alloc::vec::Vec;

use crate::errno::exe_link_error_is_tolerated;
use crate::{LOAD_LIBRARY_BUF_SIZE, PATH_MAX};

/// The one path list musl keeps per object: DT_RUNPATH if present, else DT_RPATH
/// (`decode_dyn`, 1.2.3 dynlink.c:920–923). musl makes no other difference between the two tags:
/// both are searched *before* nothing else but `LD_LIBRARY_PATH`, and both are inherited by
/// dependencies. If a tag occurs more than once, `decode_vec` keeps the last one: pass that.
pub fn effective_rpath<'a>(rpath: Option<&'a [u8]>, runpath: Option<&'a [u8]>) -> Option<&'a [u8]> {
    runpath.or(rpath)
}

/// What the `$` tokens of an rpath are, as `fixup_rpath`'s first two loops see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginTokens {
    /// No `$` at all: the rpath is used verbatim (1.2.3 dynlink.c:841–844).
    None,
    /// Every `$` starts `$ORIGIN` or `${ORIGIN}`; this many of them.
    Origin(usize),
    /// Some `$` starts anything else (`$LIB`, `$PLATFORM`, `$$`, `${ORIGIN` unclosed…): musl
    /// ignores the *whole* rpath (1.2.3 dynlink.c:847–848).
    Unsupported,
}

/// Scans `rpath` like `fixup_rpath` (1.2.3 dynlink.c:841–852). The test is a prefix test,
/// `strncmp(t, "$ORIGIN", 7)`: `$ORIGINAL` passes and later expands to origin + `AL`.
pub fn origin_tokens(rpath: &[u8]) -> OriginTokens {
    let mut count = 0;
    let mut rest = rpath;
    while let Some(dollar) = rest.iter().position(|&b| b == b'$') {
        let token = &rest[dollar..];
        if !token.starts_with(b"$ORIGIN") && !token.starts_with(b"${ORIGIN}") {
            return OriginTokens::Unsupported;
        }
        rest = &token[1..];
        count += 1;
    }
    if count == 0 {
        OriginTokens::None
    } else {
        OriginTokens::Origin(count)
    }
}

/// `if (n > SSIZE_MAX/PATH_MAX) return 0;` (1.2.3 dynlink.c:853): more `$ORIGIN` tokens than
/// this and the rpath is ignored. `SSIZE_MAX` is the target's, so the CLI running on a 64-bit
/// host predicts a 32-bit loader wrongly only for rpaths with over 524287 tokens.
pub const MAX_ORIGIN_TOKENS: usize = isize::MAX as usize / PATH_MAX;

/// Where `$ORIGIN` comes from for the object whose rpath is expanded
/// (1.2.3 dynlink.c:855–879).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Any object the loader mapped itself: its `p->name`, the pathname it was opened by (the
    /// found candidate for a searched name, the name itself for a pathname). This includes the
    /// main program when the loader runs as a command (`ld-musl-x86_64.so.1 ./prog`), where the
    /// name is the command-line argument.
    ObjectName(&'a [u8]),
    /// The main program mapped by the kernel (`p->kernel_mapped`): the target of
    /// `readlink("/proc/self/exe")`, complete (a target of 512 bytes or more is rejected here,
    /// as musl's 512-byte buffer would be full).
    ExeLink(&'a [u8]),
    /// The same, but readlink failed with ENOENT, ENOTDIR or EACCES (e.g. no /proc).
    ExeLinkUnavailable,
    /// The same, but readlink failed with another errno, carried here.
    ExeLinkFailed(i32),
}

impl<'a> Origin<'a> {
    /// The kernel-mapped main program's origin from the result of
    /// `readlink("/proc/self/exe")`: the link target, or the errno.
    pub fn from_exe_readlink(result: Result<&'a [u8], i32>) -> Self {
        match result {
            Ok(target) => Origin::ExeLink(target),
            Err(errno) if exe_link_error_is_tolerated(errno) => Origin::ExeLinkUnavailable,
            Err(errno) => Origin::ExeLinkFailed(errno),
        }
    }

    /// `fixup_rpath`'s origin of an object (1.2.3 dynlink.c:856–877), the one rule the
    /// loader's rpaths, its table items and the CLI's simulation share: the kernel-mapped main
    /// program's is `/proc/self/exe`'s target — `exe_link`, the readlink result when it was read
    /// (only for a list that needs it), else unavailable; any other object's is its name,
    /// asked for only then.
    pub fn of_object(
        kernel_mapped: bool,
        exe_link: Option<Result<&'a [u8], i32>>,
        name: impl FnOnce() -> &'a [u8],
    ) -> Self {
        match exe_link {
            _ if !kernel_mapped => Origin::ObjectName(name()),
            Some(result) => Origin::from_exe_readlink(result),
            None => Origin::ExeLinkUnavailable,
        }
    }

    /// Whether this is the kernel-mapped main program (the variants from `/proc/self/exe`).
    pub const fn is_kernel_mapped_main(&self) -> bool {
        !matches!(self, Origin::ObjectName(_))
    }
}

/// Why `fixup_rpath` left an rpath unset (it returned 0 with `p->rpath == NULL`): the object
/// contributes nothing to the search, which goes on with the next ancestor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoredBecause {
    /// A `$` not starting `$ORIGIN`/`${ORIGIN}` (1.2.3 dynlink.c:847–848).
    UnsupportedToken,
    /// More than [`MAX_ORIGIN_TOKENS`] tokens (1.2.3 dynlink.c:853).
    TooManyOriginTokens,
    /// `$ORIGIN` in the kernel-mapped main program's rpath in secure mode: the pathname is
    /// under the control of execve's caller (1.2.3 dynlink.c:856–863).
    SecureMainProgram,
    /// `readlink("/proc/self/exe")` failed with ENOENT, ENOTDIR or EACCES
    /// (1.2.3 dynlink.c:866–869, `break` then `l >= buf_size`; 1.2.5 :930–933, `return 0`).
    ExeLinkUnavailable,
    /// The link target did not fit musl's buffer: `l >= buf_size` (1.2.3 dynlink.c:873–874).
    ExeLinkTooLong,
    /// Secure mode and the origin does not start with `/` (1.2.3 dynlink.c:891–893), e.g. a
    /// library opened by a relative pathname, or a name without `/` whose origin became `.`.
    SecureRelativeOrigin,
}

/// The outcome of `fixup_rpath` for one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expanded<'a> {
    /// The object has neither DT_RPATH nor DT_RUNPATH (1.2.3 dynlink.c:840).
    Absent,
    /// No `$`: the rpath as written (`p->rpath = p->rpath_orig`).
    Verbatim(&'a [u8]),
    /// Every `$ORIGIN`/`${ORIGIN}` replaced by the origin directory.
    Substituted(Vec<u8>),
    /// The rpath is not searched; see the reason.
    Ignored(IgnoredBecause),
    /// `fixup_rpath` returned -1: `load_library` sets `fd = -2` and the search ends right
    /// there, without later ancestors or the system path; the load fails with the readlink
    /// errno, reported as "Error loading shared library … (needed by …)" (fatal at startup after
    /// all dependencies were tried, a `dlerror` for `dlopen`).
    ExeLinkFailed(i32),
    /// `malloc` of the expansion failed (1.2.3 dynlink.c:899): `fixup_rpath` returns -1 as for
    /// [`Expanded::ExeLinkFailed`], with errno ENOMEM.
    OutOfMemory,
}

impl Expanded<'_> {
    /// The path list to walk, if this object contributes one.
    pub fn search_list(&self) -> Option<&[u8]> {
        match self {
            Expanded::Verbatim(list) => Some(list),
            Expanded::Substituted(list) => Some(list),
            Expanded::Absent | Expanded::Ignored(_) | Expanded::ExeLinkFailed(_) | Expanded::OutOfMemory => None,
        }
    }

    /// Whether the search stops at this object (`fixup_rpath(...) < 0`).
    pub const fn aborts_search(&self) -> bool {
        matches!(self, Expanded::ExeLinkFailed(_) | Expanded::OutOfMemory)
    }
}

/// Whether `expand_rpath` would consult `/proc/self/exe` for the kernel-mapped main program's
/// `rpath`: only when it holds supported `$ORIGIN` tokens, not too many, outside secure mode.
/// Lets the loader issue the `readlink` exactly when musl does.
pub fn needs_exe_link(rpath: &[u8], secure: bool) -> bool {
    matches!(origin_tokens(rpath), OriginTokens::Origin(n) if n <= MAX_ORIGIN_TOKENS) && !secure
}

/// The directory `$ORIGIN` stands for: everything before the last `/` (so `/prog` gives the
/// empty string, `lib//libx.so` gives `lib/`), or `.` when there is no `/`
/// (1.2.3 dynlink.c:880–890).
pub fn origin_directory(origin: &[u8]) -> &[u8] {
    match origin.iter().rposition(|&b| b == b'/') {
        Some(slash) => &origin[..slash],
        None => b".",
    }
}

/// `fixup_rpath` (1.2.3 dynlink.c:835–910, 1.2.5 :899–974) as a function: the rpath an object
/// contributes to searches, given where its `$ORIGIN` comes from and whether the process is in
/// secure mode. The tests run in musl's order, so e.g. a rpath without `$` is used verbatim even
/// for the main program in secure mode, and an unsupported token wins over a readlink error.
///
/// musl caches a set `p->rpath` per object, but an ignored rpath stays unset and is
/// re-evaluated (readlink included) on every search through that object; the result is the
/// same each time unless `/proc/self/exe` changes.
pub fn expand_rpath<'a>(rpath: Option<&'a [u8]>, origin: Origin<'_>, secure: bool) -> Expanded<'a> {
    let Some(rpath) = rpath else { return Expanded::Absent };
    let count = match origin_tokens(rpath) {
        OriginTokens::None => return Expanded::Verbatim(rpath),
        OriginTokens::Unsupported => return Expanded::Ignored(IgnoredBecause::UnsupportedToken),
        OriginTokens::Origin(count) => count,
    };
    if count > MAX_ORIGIN_TOKENS {
        return Expanded::Ignored(IgnoredBecause::TooManyOriginTokens);
    }
    let origin = match origin {
        Origin::ObjectName(name) => name,
        _ if secure => return Expanded::Ignored(IgnoredBecause::SecureMainProgram),
        Origin::ExeLinkUnavailable => return Expanded::Ignored(IgnoredBecause::ExeLinkUnavailable),
        Origin::ExeLinkFailed(errno) => return Expanded::ExeLinkFailed(errno),
        // readlink(..., buf, buf_size) with buf_size = sizeof buf in load_library.
        Origin::ExeLink(target) if target.len() >= LOAD_LIBRARY_BUF_SIZE => {
            return Expanded::Ignored(IgnoredBecause::ExeLinkTooLong)
        }
        Origin::ExeLink(target) => target,
    };
    let directory = origin_directory(origin);
    // `*origin != '/'` looks at the string origin points to: the whole name, or "." when it has
    // no slash, not at the directory prefix (which is empty for "/prog").
    let first = if origin.contains(&b'/') { origin[0] } else { b'.' };
    if secure && first != b'/' {
        return Expanded::Ignored(IgnoredBecause::SecureRelativeOrigin);
    }
    let mut expanded = Vec::new();
    if expanded.try_reserve_exact(rpath.len() + count * directory.len()).is_err() {
        return Expanded::OutOfMemory;
    }
    let mut rest = rpath;
    while let Some(dollar) = rest.iter().position(|&b| b == b'$') {
        expanded.extend_from_slice(&rest[..dollar]);
        expanded.extend_from_slice(directory);
        // `s = t + 7 + 2*(t[1]=='{')`: skip "$ORIGIN" or "${ORIGIN}".
        let token_len = if rest.get(dollar + 1) == Some(&b'{') { 9 } else { 7 };
        rest = &rest[dollar + token_len..];
    }
    expanded.extend_from_slice(rest);
    Expanded::Substituted(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::{EACCES, ENAMETOOLONG, ENOENT, ENOTDIR};
    use std::vec;

    /// One origin rule for every caller: the name is asked for only when it is the origin, and
    /// the main program's origin is unavailable when its link was not read.
    #[test]
    fn origin_of_an_object() {
        let lib = Origin::of_object(false, None, || b"/s/lib/liba.so");
        assert_eq!(lib, Origin::ObjectName(b"/s/lib/liba.so"));
        let never = || -> &'static [u8] { panic!("the main program's name is not its origin") };
        assert_eq!(Origin::of_object(true, None, never), Origin::ExeLinkUnavailable);
        assert_eq!(Origin::of_object(true, Some(Ok(b"/bin/p")), never), Origin::ExeLink(b"/bin/p"));
        assert_eq!(Origin::of_object(true, Some(Err(ENOENT)), never), Origin::ExeLinkUnavailable);
        assert_eq!(Origin::of_object(true, Some(Err(ENAMETOOLONG)), never), Origin::ExeLinkFailed(ENAMETOOLONG));
    }

    fn substituted(expanded: Expanded<'_>) -> Vec<u8> {
        match expanded {
            Expanded::Substituted(list) => list,
            other => panic!("not substituted: {other:?}"),
        }
    }

    /// decode_dyn (dynlink.c:920–923): DT_RUNPATH overrides DT_RPATH.
    #[test]
    fn runpath_wins_over_rpath() {
        assert_eq!(effective_rpath(Some(b"/r"), Some(b"/rp")), Some(&b"/rp"[..]));
        assert_eq!(effective_rpath(Some(b"/r"), None), Some(&b"/r"[..]));
        assert_eq!(effective_rpath(None, Some(b"/rp")), Some(&b"/rp"[..]));
        assert_eq!(effective_rpath(None, None), None);
    }

    /// dynlink.c:840: no rpath, nothing to do.
    #[test]
    fn absent_rpath() {
        assert_eq!(expand_rpath(None, Origin::ObjectName(b"/x/liba.so"), false), Expanded::Absent);
        assert_eq!(Expanded::Absent.search_list(), None);
    }

    /// dynlink.c:841–844: no '$' means verbatim, even for the secure main program whose
    /// readlink would fail.
    #[test]
    fn rpath_without_dollar_is_verbatim() {
        for secure in [false, true] {
            let e = expand_rpath(Some(b"/a:lib:/b/"), Origin::ExeLinkFailed(5), secure);
            assert_eq!(e, Expanded::Verbatim(b"/a:lib:/b/"));
            assert_eq!(e.search_list(), Some(&b"/a:lib:/b/"[..]));
        }
    }

    /// dynlink.c:846–851: both spellings, prefix match, any other '$' ignores the whole rpath.
    #[test]
    fn token_scan() {
        assert_eq!(origin_tokens(b"/usr/lib"), OriginTokens::None);
        assert_eq!(origin_tokens(b"$ORIGIN"), OriginTokens::Origin(1));
        assert_eq!(origin_tokens(b"${ORIGIN}/../lib:$ORIGIN"), OriginTokens::Origin(2));
        assert_eq!(origin_tokens(b"$ORIGINAL"), OriginTokens::Origin(1));
        assert_eq!(origin_tokens(b"/a:$LIB"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"$PLATFORM"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"${ORIGIN"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"$$ORIGIN"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"$origin"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"/a$"), OriginTokens::Unsupported);
        assert_eq!(origin_tokens(b"$ORIGIN:$LIB"), OriginTokens::Unsupported);
        let e = expand_rpath(Some(b"/good:$ORIGIN:$LIB"), Origin::ObjectName(b"/x/y"), false);
        assert_eq!(e, Expanded::Ignored(IgnoredBecause::UnsupportedToken));
        assert_eq!(e.search_list(), None);
    }

    /// dynlink.c:894–909: substitution of the directory (without its trailing '/'), `${ORIGIN}`
    /// skipping 9 bytes, `$ORIGIN` 7, so `$ORIGINAL` keeps `AL`.
    #[test]
    fn library_origin_is_its_pathname() {
        let lib = Origin::ObjectName(b"/nix/store/abc-foo/lib/libfoo.so");
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN"), lib, false)), b"/nix/store/abc-foo/lib");
        assert_eq!(
            substituted(expand_rpath(Some(b"${ORIGIN}/../x:$ORIGIN/y:/z"), lib, false)),
            b"/nix/store/abc-foo/lib/../x:/nix/store/abc-foo/lib/y:/z"
        );
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGINAL"), lib, false)), b"/nix/store/abc-foo/libAL");
        // The same for a library in secure mode: its name came from a trusted source.
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN/p"), lib, true)), b"/nix/store/abc-foo/lib/p");
    }

    /// dynlink.c:880–890: trailing slashes of the origin, root, and no slash at all (".").
    #[test]
    fn origin_directory_edge_cases() {
        assert_eq!(origin_directory(b"/a/b/libx.so"), b"/a/b");
        assert_eq!(origin_directory(b"/a/b//libx.so"), b"/a/b/");
        assert_eq!(origin_directory(b"/prog"), b"");
        assert_eq!(origin_directory(b"lib/libx.so"), b"lib");
        assert_eq!(origin_directory(b"prog"), b".");
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN/lib"), Origin::ObjectName(b"/prog"), false)), b"/lib");
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN/lib"), Origin::ObjectName(b"prog"), false)), b"./lib");
        assert_eq!(
            substituted(expand_rpath(Some(b"$ORIGIN/lib"), Origin::ExeLink(b"/usr/bin/prog"), false)),
            b"/usr/bin/lib"
        );
    }

    /// dynlink.c:891–893: in secure mode, an origin not starting with '/' ignores the rpath;
    /// "/prog" (empty directory) is still absolute.
    #[test]
    fn secure_mode_rejects_relative_origin() {
        for name in [&b"lib/libx.so"[..], b"./libx.so", b"libx.so"] {
            let e = expand_rpath(Some(b"$ORIGIN"), Origin::ObjectName(name), true);
            assert_eq!(e, Expanded::Ignored(IgnoredBecause::SecureRelativeOrigin), "{}", name.escape_ascii());
        }
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN/l"), Origin::ObjectName(b"/prog"), true)), b"/l");
        // Not secure: relative origins are fine.
        assert_eq!(substituted(expand_rpath(Some(b"$ORIGIN"), Origin::ObjectName(b"lib/libx.so"), false)), b"lib");
    }

    /// dynlink.c:855–863: no $ORIGIN for the kernel-mapped main program in secure mode, checked
    /// before readlink (so even a failing readlink only ignores).
    #[test]
    fn secure_main_program_ignores_origin_rpath() {
        for origin in [Origin::ExeLink(b"/usr/bin/su"), Origin::ExeLinkUnavailable, Origin::ExeLinkFailed(5)] {
            let e = expand_rpath(Some(b"/trusted:$ORIGIN/../lib"), origin, true);
            assert_eq!(e, Expanded::Ignored(IgnoredBecause::SecureMainProgram));
        }
        assert!(!needs_exe_link(b"$ORIGIN", true));
        assert!(needs_exe_link(b"$ORIGIN", false));
        assert!(!needs_exe_link(b"/lib", false));
        assert!(!needs_exe_link(b"$LIB", false));
    }

    /// dynlink.c:865–874 (1.2.5 :929–938): readlink errors and the buffer-size check.
    #[test]
    fn main_program_readlink_outcomes() {
        for errno in [ENOENT, ENOTDIR, EACCES] {
            assert_eq!(Origin::from_exe_readlink(Err(errno)), Origin::ExeLinkUnavailable);
            let e = expand_rpath(Some(b"$ORIGIN"), Origin::from_exe_readlink(Err(errno)), false);
            assert_eq!(e, Expanded::Ignored(IgnoredBecause::ExeLinkUnavailable));
        }
        for errno in [ENAMETOOLONG, 5, 12, 40] {
            let e = expand_rpath(Some(b"$ORIGIN"), Origin::from_exe_readlink(Err(errno)), false);
            assert_eq!(e, Expanded::ExeLinkFailed(errno));
            assert!(e.aborts_search());
            assert_eq!(e.search_list(), None);
        }
        // l >= buf_size with buf_size = 512: a 511-byte target fits, 512 does not.
        let mut target = vec![b'/'];
        target.resize(511, b'p');
        let e = expand_rpath(Some(b"$ORIGIN"), Origin::ExeLink(&target), false);
        assert_eq!(substituted(e), b"");
        target.push(b'p');
        let e = expand_rpath(Some(b"$ORIGIN"), Origin::ExeLink(&target), false);
        assert_eq!(e, Expanded::Ignored(IgnoredBecause::ExeLinkTooLong));
        assert!(Origin::ExeLink(b"/p").is_kernel_mapped_main());
        assert!(!Origin::ObjectName(b"/p").is_kernel_mapped_main());
    }

    /// dynlink.c:853: the token-count limit is SSIZE_MAX/PATH_MAX.
    #[test]
    fn token_count_limit() {
        assert_eq!(MAX_ORIGIN_TOKENS, isize::MAX as usize / 4096);
    }
}
