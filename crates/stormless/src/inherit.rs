//! `--loaded-by PROGRAM`: table entries for names a shared object finds only through the program
//! that loads it.
//!
//! musl's search does not end at the requester's rpath: it walks the `needed_by` chain up to
//! the main program (1.2.3 `ldso/dynlink.c` `load_library`, the `for (p=needed_by; …)` loop), and
//! `dlopen` starts that chain at the main program. So a wheel's library that NEEDs `libz.so.1`
//! without any rpath of its own reaching it (Pillow's `_imaging`, docs/wheels.md) is found
//! through the interpreter's RUNPATH. A file's own table cannot know that context; PROGRAM tells
//! it. The entry is written only when, on the file system as it is now, musl would find exactly
//! that file whichever of the given objects loads the requester:
//!
//! 1. the requester is a shared object (a program is never loaded by another);
//! 2. every directory of its own rpath (with `$ORIGIN` expanded from its path) exists, is
//!    absolute, and lacks the name: the search through it fails now, and cannot find the name
//!    in a directory that appears later or in the current directory;
//! 3. PROGRAM's rpath finds the name, every directory before the winner existing and absolute;
//! 4. no other shared object among the files given finds the name through its own rpath in a
//!    different file: such an object may sit between the requester and PROGRAM in the chain.
//!
//! The entry holds only that file (`=file`): the requester's own directories, checked empty,
//! would be failed probes. Like every `=file` entry it describes the file system at embed time;
//! `stormless check --loaded-by PROGRAM` reports when it no longer holds.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, Result};
use stormless_search::{expand_rpath, join, Expanded, Origin, PathList, LOAD_LIBRARY_BUF_SIZE};

use crate::elf_image::ElfImage;
use crate::resolution::FileSystem;

/// The program the objects are loaded by, and what the other objects find themselves.
pub struct LoadedBy {
    /// The directories of PROGRAM's rpath as the loader expands it (`$ORIGIN` from its path,
    /// as `/proc/self/exe` gives it), split once; None when it has none or musl ignores it.
    program_dirs: Option<Vec<Vec<u8>>>,
    /// Per name, the files the given shared objects find through their own rpath (step 4).
    found_by_others: HashMap<Vec<u8>, BTreeSet<Vec<u8>>>,
}

/// The directories an rpath expands to, or None when the search through them cannot be
/// decided from the file system alone (the loader stops the whole search there).
fn searched_dirs(expanded: &Expanded<'_>) -> Option<Vec<Vec<u8>>> {
    match expanded {
        Expanded::Absent | Expanded::Ignored(_) => Some(Vec::new()),
        Expanded::Verbatim(_) | Expanded::Substituted(_) => {
            let list = expanded.search_list().unwrap_or_default();
            Some(PathList::new(list).map(<[u8]>::to_vec).collect())
        }
        Expanded::ExeLinkFailed(_) | Expanded::OutOfMemory => None,
    }
}

/// Whether `dir` is one a search provably behaves the same in at run time: absolute and an
/// existing directory.
fn settled(dir: &[u8], fs: &FileSystem) -> bool {
    dir.first() == Some(&b'/') && fs.is_dir(dir)
}

/// The first file `dirs` give for `name`; Err(()) when a directory before it is not settled.
fn first_found(dirs: &[Vec<u8>], name: &[u8], fs: &FileSystem) -> Result<Option<Vec<u8>>, ()> {
    for dir in dirs {
        // musl skips a directory whose `dir/name` does not fit its buffer.
        let Some(candidate) = join(dir, name, LOAD_LIBRARY_BUF_SIZE) else { continue };
        if !settled(dir, fs) {
            return Err(());
        }
        if fs.opens(&candidate) {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// A shared object's own rpath, expanded from its run-time path.
fn own_dirs(rpath: Option<&[u8]>, object: &[u8]) -> Option<Vec<Vec<u8>>> {
    searched_dirs(&expand_rpath(rpath, Origin::ObjectName(object), false))
}

impl LoadedBy {
    /// Read PROGRAM (a host path; its run-time path through `fs`).
    pub fn new(program: &Path, fs: &FileSystem) -> Result<LoadedBy> {
        let image = ElfImage::read_file(program)?;
        if image.interp.is_none() {
            bail!("--loaded-by {}: not a program (it has no PT_INTERP)", program.display());
        }
        let exe = fs.runtime_path(program);
        let expanded = expand_rpath(image.effective_rpath(), Origin::ExeLink(&exe), false);
        let program_dirs = expanded.search_list().map(|list| PathList::new(list).map(<[u8]>::to_vec).collect());
        Ok(LoadedBy { program_dirs, found_by_others: HashMap::new() })
    }

    /// Step 4's record: what `image` (at run-time path `object`) finds itself for its names.
    pub fn note_object(&mut self, image: &ElfImage, object: &[u8], fs: &FileSystem) {
        if image.interp.is_none() {
            self.note_shared_object(image.effective_rpath(), &image.needed, object, fs);
        }
    }

    fn note_shared_object(&mut self, rpath: Option<&[u8]>, needed: &[Vec<u8>], object: &[u8], fs: &FileSystem) {
        let Some(dirs) = own_dirs(rpath, object) else { return };
        for name in needed {
            if let Ok(Some(found)) = first_found(&dirs, name, fs) {
                self.found_by_others.entry(name.clone()).or_default().insert(found);
            }
        }
    }

    /// The file PROGRAM's context gives `name` for the shared object `image` (run-time path
    /// `object`), when steps 1–4 above hold.
    pub fn inherited(&self, image: &ElfImage, object: &[u8], name: &[u8], fs: &FileSystem) -> Option<Vec<u8>> {
        if image.interp.is_some() {
            return None;
        }
        self.inherited_by_shared_object(image.effective_rpath(), object, name, fs)
    }

    fn inherited_by_shared_object(
        &self,
        rpath: Option<&[u8]>,
        object: &[u8],
        name: &[u8],
        fs: &FileSystem,
    ) -> Option<Vec<u8>> {
        let own = own_dirs(rpath, object)?;
        if first_found(&own, name, fs) != Ok(None) || own.iter().any(|dir| !settled(dir, fs)) {
            return None;
        }
        let found = first_found(self.program_dirs.as_deref()?, name, fs).ok()??;
        let elsewhere = self.found_by_others.get(name);
        if elsewhere.is_some_and(|files| files.iter().any(|f| *f != found)) {
            return None;
        }
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(test: &str) -> (std::path::PathBuf, FileSystem) {
        let root = std::env::temp_dir().join(format!("stormless-inherit-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["prog/lib", "zlib/lib", "other/lib", "mod/libs"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("zlib/lib/libz.so.1"), b"").unwrap();
        (root.clone(), FileSystem::new(Some(root)))
    }

    fn program(dirs: &[u8]) -> LoadedBy {
        LoadedBy {
            program_dirs: Some(PathList::new(dirs).map(<[u8]>::to_vec).collect()),
            found_by_others: HashMap::new(),
        }
    }

    fn libz(by: &LoadedBy, runpath: &[u8], fs: &FileSystem) -> Option<Vec<u8>> {
        by.inherited_by_shared_object(Some(runpath), b"/mod/m/x.so", b"libz.so.1", fs)
    }

    fn note(by: &mut LoadedBy, runpath: &[u8], fs: &FileSystem) {
        by.note_shared_object(Some(runpath), &[b"libz.so.1".to_vec()], b"/y.so", fs);
    }

    #[test]
    fn found_through_the_program_when_the_own_rpath_lacks_it() {
        let (root, fs) = tree("found");
        std::fs::create_dir_all(root.join("mod/m")).unwrap();
        let by = program(b"/prog/lib:/zlib/lib");
        assert_eq!(libz(&by, b"$ORIGIN/../libs", &fs).as_deref(), Some(&b"/zlib/lib/libz.so.1"[..]));
    }

    #[test]
    fn no_entry_when_the_own_rpath_finds_it_or_may_find_it() {
        let (root, fs) = tree("own");
        let by = program(b"/zlib/lib");
        // A directory that does not exist yet, a relative one: the loader's search may differ.
        for runpath in [&b"/missing"[..], b"libs"] {
            assert_eq!(libz(&by, runpath, &fs), None);
        }
        assert!(libz(&by, b"/mod/libs", &fs).is_some());
        std::fs::write(root.join("mod/libs/libz.so.1"), b"").unwrap();
        assert_eq!(libz(&by, b"/mod/libs", &fs), None);
    }

    #[test]
    fn no_entry_when_the_program_does_not_find_it_for_sure() {
        let (_root, fs) = tree("program");
        assert_eq!(libz(&program(b"/other/lib"), b"/other/lib", &fs), None);
        // A program directory before the winner that the search cannot settle now.
        assert_eq!(libz(&program(b"/nope:/zlib/lib"), b"/other/lib", &fs), None);
        assert!(libz(&program(b"/prog/lib:/zlib/lib"), b"/other/lib", &fs).is_some());
    }

    #[test]
    fn no_entry_when_a_possible_ancestor_finds_another_file() {
        let (root, fs) = tree("ancestor");
        std::fs::write(root.join("other/lib/libz.so.1"), b"").unwrap();
        let mut by = program(b"/zlib/lib");
        assert!(libz(&by, b"/mod/libs", &fs).is_some());
        // An object that finds the same file itself changes nothing; one finding another does.
        note(&mut by, b"/zlib/lib", &fs);
        assert!(libz(&by, b"/mod/libs", &fs).is_some());
        note(&mut by, b"/other/lib", &fs);
        assert_eq!(libz(&by, b"/mod/libs", &fs), None);
    }
}
