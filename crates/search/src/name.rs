//! What `load_library` does with a name before any search: the early returns, the libc aliases
//! that resolve to the loader itself, and the split between pathnames and searched names.

use crate::NAME_MAX;

/// The names musl reserves for itself, in the order and with the byte offsets of its
/// `reserved[] = "c.pthread.rt.m.dl.util.xnet."` string (1.2.3 dynlink.c:1010–1011).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LibcAlias {
    /// `libc.…`
    C,
    /// `libpthread.…`
    Pthread,
    /// `librt.…`
    Rt,
    /// `libm.…`
    M,
    /// `libdl.…`
    Dl,
    /// `libutil.…`
    Util,
    /// `libxnet.…`
    Xnet,
}

impl LibcAlias {
    /// All aliases, in musl's order.
    pub const ALL: [LibcAlias; 7] = [
        LibcAlias::C,
        LibcAlias::Pthread,
        LibcAlias::Rt,
        LibcAlias::M,
        LibcAlias::Dl,
        LibcAlias::Util,
        LibcAlias::Xnet,
    ];

    /// The stem between `lib` and the `.` that musl compares, e.g. `pthread`.
    pub const fn stem(self) -> &'static [u8] {
        match self {
            LibcAlias::C => b"c",
            LibcAlias::Pthread => b"pthread",
            LibcAlias::Rt => b"rt",
            LibcAlias::M => b"m",
            LibcAlias::Dl => b"dl",
            LibcAlias::Util => b"util",
            LibcAlias::Xnet => b"xnet",
        }
    }

    /// The bit musl's ldd mode uses to print each alias only once: `1U<<(rp-reserved)`, the
    /// alias's byte offset in the `reserved` string (1.2.3 dynlink.c:1022–1023).
    pub const fn ldd_report_bit(self) -> u32 {
        let offset = match self {
            LibcAlias::C => 0,
            LibcAlias::Pthread => 2,
            LibcAlias::Rt => 10,
            LibcAlias::M => 13,
            LibcAlias::Dl => 15,
            LibcAlias::Util => 18,
            LibcAlias::Xnet => 23,
        };
        1 << offset
    }
}

/// Which libc alias `name` is, tested exactly as musl does (1.2.3 dynlink.c:1009–1016):
/// the name starts with `lib`, and `strncmp(name+3, "<stem>.", strlen("<stem>."))` matches,
/// i.e. the stem is followed by a `.`. So `libc.so`, `libc.so.6`, `libm.so.6`, `libc.a` and even
/// `libc.musl-x86_64.so.1` are aliases, while `libc`, `libcrypt.so` and `libc-2.31.so` are not.
/// The check comes before the `/` test, so a name like `libc.d/x` is an alias too.
pub fn libc_alias(name: &[u8]) -> Option<LibcAlias> {
    let rest = name.strip_prefix(b"lib")?;
    LibcAlias::ALL.into_iter().find(|alias| {
        let stem = alias.stem();
        rest.len() > stem.len() && rest.starts_with(stem) && rest[stem.len()] == b'.'
    })
}

/// How `load_library` treats a name, in the order of its tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// The empty name: `load_library` sets `errno = EINVAL` and fails (1.2.3 dynlink.c:1003–1006).
    Empty,
    /// A libc alias: resolves to the loader itself (`is_self`), no file is opened
    /// (1.2.3 dynlink.c:1009–1033; ldd mode prints `name => ldso.name` once per alias).
    LibcAlias(LibcAlias),
    /// Exactly the loader's own name (`!strcmp(name, ldso.name)`, 1.2.3 dynlink.c:1034): also the
    /// loader itself. `ldso.name` is the main program's PT_INTERP string, or argv\[0\] when the
    /// loader runs as a command, or `"libc.so"` before either is known.
    LoaderItself,
    /// Contains a `/`: opened as given, no search, no short name (1.2.3 dynlink.c:1043–1045).
    Path,
    /// Searched: first against the short names of loaded objects (1.2.3 dynlink.c:1048–1052),
    /// then, if it fits ([`fits_search`]), through the path lists of a
    /// [`search`](crate::search).
    Search,
}

/// Classifies `name` the way `load_library` branches on it. `ldso_name` is the loader's
/// `ldso.name` (see [`NameKind::LoaderItself`]).
pub fn classify(name: &[u8], ldso_name: &[u8]) -> NameKind {
    classify_with(name, || ldso_name)
}

/// [`classify`] with the loader's name asked for only when `name` gets as far as the
/// comparison with it: in the loader it is a C string, measured per call otherwise, and
/// `load_library` runs once per `DT_NEEDED` entry of every object.
pub fn classify_with<'a>(name: &[u8], ldso_name: impl FnOnce() -> &'a [u8]) -> NameKind {
    if name.is_empty() {
        NameKind::Empty
    } else if let Some(alias) = libc_alias(name) {
        NameKind::LibcAlias(alias)
    } else if name == ldso_name() {
        NameKind::LoaderItself
    } else if name.contains(&b'/') {
        NameKind::Path
    } else {
        NameKind::Search
    }
}

/// Whether a searched name may be looked up in the path lists at all:
/// `if (strlen(name) > NAME_MAX) return 0;` (1.2.3 dynlink.c:1053). The check comes *after* the
/// comparison with loaded objects' short names, and a name that fails it fails the load without
/// a single `open` (errno is whatever it was before).
pub const fn fits_search(name: &[u8]) -> bool {
    name.len() <= NAME_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDSO: &[u8] = b"/lib/ld-musl-x86_64.so.1";

    /// The loader's name is asked for only when the name is neither empty nor a libc alias,
    /// and the answer is the same as with the name given up front.
    #[test]
    fn the_loader_name_is_asked_for_only_when_compared() {
        let never = || -> &'static [u8] { panic!("the loader's name was asked for") };
        assert_eq!(classify_with(b"", never), NameKind::Empty);
        assert_eq!(classify_with(b"libc.so", never), NameKind::LibcAlias(LibcAlias::C));
        for name in [&b"libfoo.so"[..], b"/usr/lib/libfoo.so", LDSO] {
            assert_eq!(classify_with(name, || LDSO), classify(name, LDSO));
        }
    }

    /// dynlink.c:1003 `if (!*name) { errno = EINVAL; return 0; }`.
    #[test]
    fn empty_name_is_rejected_first() {
        assert_eq!(classify(b"", LDSO), NameKind::Empty);
        assert_eq!(classify(b"", b""), NameKind::Empty);
    }

    /// dynlink.c:1009–1016: `lib` + stem + `.`, compared with strncmp over the stem and its dot.
    #[test]
    fn libc_aliases_need_lib_prefix_stem_and_dot() {
        let cases: &[(&[u8], Option<LibcAlias>)] = &[
            (b"libc.so", Some(LibcAlias::C)),
            (b"libc.so.6", Some(LibcAlias::C)),
            (b"libc.", Some(LibcAlias::C)),
            (b"libc.musl-x86_64.so.1", Some(LibcAlias::C)),
            (b"libpthread.so.0", Some(LibcAlias::Pthread)),
            (b"librt.so.1", Some(LibcAlias::Rt)),
            (b"libm.so.6", Some(LibcAlias::M)),
            (b"libm.a", Some(LibcAlias::M)),
            (b"libdl.so.2", Some(LibcAlias::Dl)),
            (b"libutil.so.1", Some(LibcAlias::Util)),
            (b"libxnet.so", Some(LibcAlias::Xnet)),
            (b"libc.d/x", Some(LibcAlias::C)),
            (b"libc", None),
            (b"lib", None),
            (b"li", None),
            (b"libcrypt.so.1", None),
            (b"libc-2.31.so", None),
            (b"libmagic.so.1", None),
            (b"libdl", None),
            (b"libpthread_nonshared.a", None),
            (b"LIBC.so", None),
            (b"/lib/libc.so", None),
            (b"c.so", None),
        ];
        for &(name, expected) in cases {
            assert_eq!(libc_alias(name), expected, "{}", name.escape_ascii());
        }
    }

    /// The alias test precedes the `/` test (dynlink.c:1009 vs :1043), and the ldso.name
    /// comparison (:1034) precedes it too.
    #[test]
    fn classification_order() {
        assert_eq!(classify(b"libc.so", LDSO), NameKind::LibcAlias(LibcAlias::C));
        assert_eq!(classify(b"libc.d/x", LDSO), NameKind::LibcAlias(LibcAlias::C));
        assert_eq!(classify(LDSO, LDSO), NameKind::LoaderItself);
        assert_eq!(classify(b"ld-musl-x86_64.so.1", b"ld-musl-x86_64.so.1"), NameKind::LoaderItself);
        assert_eq!(classify(b"/lib/libc.so", LDSO), NameKind::Path);
        assert_eq!(classify(b"./libfoo.so", LDSO), NameKind::Path);
        assert_eq!(classify(b"libfoo.so", LDSO), NameKind::Search);
        assert_eq!(classify(b"ld-musl-x86_64.so.1", LDSO), NameKind::Search);
    }

    /// `1U<<(rp-reserved)` with reserved = "c.pthread.rt.m.dl.util.xnet.".
    #[test]
    fn ldd_report_bits_are_offsets_in_reserved_string() {
        let reserved: &[u8] = b"c.pthread.rt.m.dl.util.xnet.";
        let mut offset = 0;
        for alias in LibcAlias::ALL {
            assert_eq!(&reserved[offset..offset + alias.stem().len()], alias.stem());
            assert_eq!(alias.ldd_report_bit(), 1 << offset);
            offset += alias.stem().len() + 1;
        }
        assert_eq!(offset, reserved.len());
    }

    /// dynlink.c:1053 `strlen(name) > NAME_MAX`: 255 bytes fit, 256 do not.
    #[test]
    fn search_name_length_limit() {
        assert!(fits_search(&[b'a'; 255]));
        assert!(!fits_search(&[b'a'; 256]));
    }
}
