//! The whole search for one name, in `load_library`'s order, as a sequence of candidates.

use alloc::vec::Vec;

use crate::name::fits_search;
use crate::pathlist::{join, PathList};
use crate::rpath::Expanded;
use crate::LOAD_LIBRARY_BUF_SIZE;

/// Which path list a candidate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `LD_LIBRARY_PATH` (or `--library-path`).
    LdLibraryPath,
    /// The requester's resolution table (`.note.nixos.ldcache`), consulted between
    /// `LD_LIBRARY_PATH` and the rpaths (design.md §5 step 3). [`SearchPlan`] never produces
    /// it: the caller inserts [`table_item_path`](crate::table_item_path)'s candidates.
    Table,
    /// The rpath of the object `depth` steps up the `needed_by` chain: 0 is the requester
    /// itself, 1 the object that first loaded it, and so on.
    Rpath {
        /// Position in [`SearchPlan::rpath_chain`].
        depth: usize,
    },
    /// The system path (path file or default).
    SysPath,
}

/// One pathname the search opens, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Where the directory came from.
    pub source: Source,
    /// `dir/name`, at most [`LOAD_LIBRARY_BUF_SIZE`]` - 1` bytes.
    pub path: Vec<u8>,
}

/// The inputs of `load_library`'s search for a name without `/`
/// (1.2.3 dynlink.c:1053–1100, 1.2.5 :1117–1164):
///
/// ```c
/// if (env_path) fd = path_open(name, env_path, buf, sizeof buf);
/// for (p=needed_by; fd == -1 && p; p=p->needed_by) {
///     if (fixup_rpath(p, buf, sizeof buf) < 0) fd = -2;
///     if (p->rpath) fd = path_open(name, p->rpath, buf, sizeof buf);
/// }
/// if (fd == -1) { /* sys_path, computed once */ fd = path_open(name, sys_path, buf, sizeof buf); }
/// ```
///
/// The loader opens the [`candidates`](Self::candidates) in order and stops at the first that
/// opens; a failure for which
/// [`search_continues_after_open_error`](crate::search_continues_after_open_error) is false
/// ends the whole search (`path_open` returns -2), as does an [`Expanded::ExeLinkFailed`] in the
/// chain, after which no candidate is produced. Before all this the loader compares the name
/// with loaded objects' short names; after a successful open it deduplicates by device and
/// inode. Neither is part of the plan.
#[derive(Clone, Debug)]
pub struct SearchPlan<'a> {
    /// `env_path`: see [`effective_ld_library_path`](crate::effective_ld_library_path); `None`
    /// in secure mode unless the loader was run as a command with `--library-path`.
    pub ld_library_path: Option<&'a [u8]>,
    /// [`expand_rpath`](crate::expand_rpath) for the requester, then for each `needed_by`
    /// ancestor in turn, up to and including the first object whose `needed_by` is null. That
    /// object is the main program for everything reached through DT_NEEDED from it, and also for
    /// `dlopen`, which passes `head` (the main program) as the requester, so a `dlopen`ed name
    /// is searched with the main program's rpath alone (1.2.3 dynlink.c:2089). An
    /// `LD_PRELOAD`ed library has a null `needed_by` (`load_library(s, 0)`, :1301): the chain of
    /// a preload name is empty, and its dependencies' chains end at it, without the main
    /// program. `needed_by` is set once, when an object is first loaded, so the chain follows the
    /// first path by which each ancestor was loaded. An empty chain is allowed.
    pub rpath_chain: &'a [Expanded<'a>],
    /// [`sys_path`](crate::sys_path) of the path file (or the default).
    pub sys_path: &'a [u8],
}

impl<'a> SearchPlan<'a> {
    /// Every pathname the search opens for `name`, in musl's order, up to the point where it
    /// would stop if none opens. Entries too long for musl's buffer are left out, as
    /// `path_open` skips them; a name longer than `NAME_MAX` gives no candidate at all
    /// (1.2.3 dynlink.c:1053).
    pub fn candidates<'p>(&'p self, name: &'p [u8]) -> Candidates<'p> {
        let stage = if fits_search(name) { Stage::LdLibraryPath } else { Stage::Done };
        Candidates { plan: self, name, stage, current: None }
    }

    /// The depth of the object whose `$ORIGIN` expansion aborts the search, if any: candidates
    /// stop after the rpaths below that depth, and the system path is not searched.
    pub fn aborting_depth(&self) -> Option<usize> {
        self.rpath_chain.iter().position(Expanded::aborts_search)
    }
}

#[derive(Clone, Copy, Debug)]
enum Stage {
    LdLibraryPath,
    Rpath(usize),
    SysPath,
    Done,
}

/// The iterator returned by [`SearchPlan::candidates`].
#[derive(Clone, Debug)]
pub struct Candidates<'p> {
    plan: &'p SearchPlan<'p>,
    name: &'p [u8],
    stage: Stage,
    current: Option<(Source, PathList<'p>)>,
}

impl Iterator for Candidates<'_> {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        loop {
            if let Some((source, list)) = &mut self.current {
                for dir in list.by_ref() {
                    if let Some(path) = join(dir, self.name, LOAD_LIBRARY_BUF_SIZE) {
                        return Some(Candidate { source: *source, path });
                    }
                }
                self.current = None;
            }
            match self.stage {
                Stage::LdLibraryPath => {
                    self.stage = Stage::Rpath(0);
                    self.current = self.plan.ld_library_path.map(|list| (Source::LdLibraryPath, PathList::new(list)));
                }
                Stage::Rpath(depth) => match self.plan.rpath_chain.get(depth) {
                    None => self.stage = Stage::SysPath,
                    Some(expanded) if expanded.aborts_search() => self.stage = Stage::Done,
                    Some(expanded) => {
                        self.stage = Stage::Rpath(depth + 1);
                        self.current =
                            expanded.search_list().map(|list| (Source::Rpath { depth }, PathList::new(list)));
                    }
                },
                Stage::SysPath => {
                    self.stage = Stage::Done;
                    self.current = Some((Source::SysPath, PathList::new(self.plan.sys_path)));
                }
                Stage::Done => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpath::{expand_rpath, IgnoredBecause, Origin};
    use crate::syspath::DEFAULT_SYS_PATH;
    use std::format;
    use std::string::String;

    /// Candidates as "source path" strings, for readable assertions.
    fn listed(plan: &SearchPlan<'_>, name: &[u8]) -> Vec<String> {
        plan.candidates(name)
            .map(|c| {
                let source = match c.source {
                    Source::LdLibraryPath => String::from("env"),
                    Source::Table => String::from("table"),
                    Source::Rpath { depth } => format!("rpath{depth}"),
                    Source::SysPath => String::from("sys"),
                };
                format!("{source} {}", c.path.escape_ascii())
            })
            .collect()
    }

    /// dynlink.c:1055–1099: LD_LIBRARY_PATH, then requester's rpath, then ancestors', then the
    /// system path.
    #[test]
    fn order_env_then_chain_then_sys() {
        let chain = [
            Expanded::Verbatim(b"/req"),
            Expanded::Absent,
            Expanded::Verbatim(b"/grand:/grand2"),
            Expanded::Ignored(IgnoredBecause::UnsupportedToken),
            Expanded::Substituted(b"/main/lib".to_vec()),
        ];
        let plan = SearchPlan { ld_library_path: Some(b"/env1:/env2"), rpath_chain: &chain, sys_path: b"/lib" };
        assert_eq!(
            listed(&plan, b"libq.so"),
            [
                "env /env1/libq.so",
                "env /env2/libq.so",
                "rpath0 /req/libq.so",
                "rpath2 /grand/libq.so",
                "rpath2 /grand2/libq.so",
                "rpath4 /main/lib/libq.so",
                "sys /lib/libq.so",
            ]
        );
        assert_eq!(plan.aborting_depth(), None);
    }

    /// dynlink.c:1098: with no path file, the default system path.
    #[test]
    fn default_sys_path_only() {
        let plan = SearchPlan { ld_library_path: None, rpath_chain: &[], sys_path: DEFAULT_SYS_PATH };
        assert_eq!(
            listed(&plan, b"libz.so.1"),
            ["sys /lib/libz.so.1", "sys /usr/local/lib/libz.so.1", "sys /usr/lib/libz.so.1"]
        );
    }

    /// dynlink.c:1057–1058 with `fixup_rpath < 0`: fd = -2 stops the loop and skips the system
    /// path; earlier sources are still tried.
    #[test]
    fn readlink_failure_aborts_after_earlier_sources() {
        let chain = [Expanded::Verbatim(b"/lib1"), Expanded::ExeLinkFailed(5), Expanded::Verbatim(b"/never")];
        let plan = SearchPlan { ld_library_path: Some(b"/env"), rpath_chain: &chain, sys_path: b"/lib" };
        assert_eq!(listed(&plan, b"liba.so"), ["env /env/liba.so", "rpath0 /lib1/liba.so"]);
        assert_eq!(plan.aborting_depth(), Some(1));
    }

    /// Empty LD_LIBRARY_PATH (non-null env_path) and empty entries search nothing extra;
    /// an empty path file searches no system directory.
    #[test]
    fn empty_lists() {
        let chain = [Expanded::Verbatim(b"::"), Expanded::Verbatim(b"")];
        let plan = SearchPlan { ld_library_path: Some(b""), rpath_chain: &chain, sys_path: b"" };
        assert_eq!(listed(&plan, b"liba.so"), Vec::<String>::new());
        let plan = SearchPlan { ld_library_path: Some(b":/e:"), rpath_chain: &chain, sys_path: b"\n/s\n" };
        assert_eq!(listed(&plan, b"liba.so"), ["env /e/liba.so", "sys /s/liba.so"]);
    }

    /// dynlink.c:1053: a name over NAME_MAX is never searched.
    #[test]
    fn overlong_name_has_no_candidates() {
        let plan = SearchPlan { ld_library_path: Some(b"/e"), rpath_chain: &[], sys_path: DEFAULT_SYS_PATH };
        assert_eq!(plan.candidates(&[b'a'; 256]).count(), 0);
        assert_eq!(plan.candidates(&[b'a'; 255]).count(), 4);
    }

    /// dynlink.c:817 with buf_size = 512: a 255-byte name fits after a directory of up to 255
    /// bytes; longer directories are skipped, the walk goes on.
    #[test]
    fn overlong_directories_are_skipped() {
        let long_dir = [b'd'; 256];
        let ok_dir = [b'd'; 255];
        let mut list = long_dir.to_vec();
        list.push(b':');
        list.extend_from_slice(&ok_dir);
        let plan = SearchPlan { ld_library_path: Some(&list), rpath_chain: &[], sys_path: b"" };
        let name = [b'n'; 255];
        let found: Vec<Candidate> = plan.candidates(&name).collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.len(), 511);
        assert!(found[0].path.starts_with(&ok_dir));
    }

    /// $ORIGIN: a library's rpath expands from its own pathname, the main program's from
    /// /proc/self/exe, and in secure mode the main program's is ignored while the library's is
    /// still used (dynlink.c:855–879).
    #[test]
    fn origin_in_chain() {
        let library = expand_rpath(Some(b"$ORIGIN/../dep"), Origin::ObjectName(b"/opt/a/lib/liba.so"), false);
        let main = expand_rpath(Some(b"$ORIGIN/lib"), Origin::ExeLink(b"/opt/bin/prog"), false);
        let chain = [library, main];
        let plan = SearchPlan { ld_library_path: None, rpath_chain: &chain, sys_path: b"" };
        assert_eq!(listed(&plan, b"libb.so"), ["rpath0 /opt/a/lib/../dep/libb.so", "rpath1 /opt/bin/lib/libb.so"]);

        let library = expand_rpath(Some(b"$ORIGIN/../dep"), Origin::ObjectName(b"/opt/a/lib/liba.so"), true);
        let main = expand_rpath(Some(b"$ORIGIN/lib:/abs"), Origin::ExeLink(b"/opt/bin/prog"), true);
        let chain = [library, main];
        let plan = SearchPlan { ld_library_path: None, rpath_chain: &chain, sys_path: b"/lib" };
        assert_eq!(listed(&plan, b"libb.so"), ["rpath0 /opt/a/lib/../dep/libb.so", "sys /lib/libb.so"]);
    }

    /// dlopen passes head (the main program) as requester (dynlink.c:2089): the chain is the
    /// main program's rpath alone.
    #[test]
    fn dlopen_searches_main_program_rpath() {
        let chain = [Expanded::Verbatim(b"/plugins")];
        let plan = SearchPlan { ld_library_path: None, rpath_chain: &chain, sys_path: b"/lib" };
        assert_eq!(listed(&plan, b"libplug.so"), ["rpath0 /plugins/libplug.so", "sys /lib/libplug.so"]);
    }

    /// design.md §8: 20 libraries, each in its own RUNPATH directory, library k in directory k:
    /// the search for library k misses k-1 times before the hit, Σ(k-1) = 190 misses.
    #[test]
    fn runpath_storm() {
        let runpath: Vec<u8> =
            (1..=20).map(|k| format!("/store/pkg{k}/lib")).collect::<Vec<_>>().join(":").into_bytes();
        let chain = [Expanded::Verbatim(&runpath)];
        let plan = SearchPlan { ld_library_path: None, rpath_chain: &chain, sys_path: DEFAULT_SYS_PATH };
        let mut misses = 0;
        for k in 1..=20 {
            let name = format!("libk{k}.so");
            let hit = format!("/store/pkg{k}/lib/{name}");
            let tried: Vec<Candidate> = plan.candidates(name.as_bytes()).collect();
            let position = tried.iter().position(|c| c.path == hit.as_bytes()).expect("hit");
            assert_eq!(position, k - 1, "library {k}");
            assert_eq!(tried[position].source, Source::Rpath { depth: 0 });
            assert_eq!(tried.len(), 20 + 3);
            misses += position;
        }
        assert_eq!(misses, 190);
    }
}
