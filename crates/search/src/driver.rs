//! The search itself: musl's `load_library` from the name to the file it opens, with the
//! requester's resolution table between `LD_LIBRARY_PATH` and the rpaths (design.md §5),
//! written once. The loader runs it over its objects and real `open` calls
//! (`ld-so/src/load/find.rs`); `stormless explain` and `check` run it over the file system and
//! count the probes (`crates/stormless/src/resolution.rs`). Both see the same order, the same
//! candidates and the same stopping rules because neither has a search loop of its own: what
//! differs between them is only what a [`SearchEnv`] does.
//!
//! musl 1.2.3 `ldso/dynlink.c` (1.2.5 in parentheses):
//!
//! ```c
//! if (!*name) { errno = EINVAL; return 0; }                     // 1003 (1067)
//! if (reserved libc name || name == ldso.name) return &ldso;     // 1005–1025 (1069–1089)
//! if (strchr(name, '/')) { pathname = name; fd = open(name, O_RDONLY|O_CLOEXEC); }
//! else {
//!     for (p=head->next; p; p=p->next) if (p->shortname && !strcmp(p->shortname, name)) return p;
//!     if (strlen(name) > NAME_MAX) return 0;
//!     fd = -1;
//!     if (env_path) fd = path_open(name, env_path, buf, sizeof buf);
//!     /* stormless: the requester's table (design.md §5 step 3) */
//!     for (p=needed_by; fd == -1 && p; p=p->needed_by) {
//!         if (fixup_rpath(p, buf, sizeof buf) < 0) fd = -2;
//!         if (p->rpath) fd = path_open(name, p->rpath, buf, sizeof buf);
//!     }
//!     if (fd == -1) { /* sys_path, computed once */ fd = path_open(name, sys_path, buf, sizeof buf); }
//!     pathname = buf;
//! }                                                              // 1026–1100 (1090–1164)
//! ```
//!
//! What follows a successful open (the device/inode check, mapping, the libc check) is the
//! environment's, as is the memoisation musl does (`p->rpath` once fixed up, `sys_path` once
//! read).

use stormless_ldcache::{Item, Items};

use crate::errno::search_continues_after_open_error;
use crate::name::{classify_with, fits_search, NameKind};
use crate::pathlist::{join_into, PathList};
use crate::rpath::Origin;
use crate::table::{item_needs_exe_link, table_item_path_into, SkippedBecause};
use crate::LOAD_LIBRARY_BUF_SIZE;

/// Where a candidate or a search list comes from. `O` names an object of the environment's
/// list of loaded objects (the loader's `*mut Dso`, the simulation's index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source<O> {
    /// A name with `/`, opened as it is.
    Pathname,
    /// `LD_LIBRARY_PATH` (or `--library-path`).
    LdLibraryPath,
    /// The requester's resolution table.
    Table(O),
    /// The rpath of this object of the `needed_by` chain (the requester first).
    Rpath(O),
    /// The system path (path file or default).
    SysPath,
}

/// What the search did, for `LD_DEBUG=libs` and `explain`'s trace. Every candidate is also
/// given to [`SearchEnv::open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'e, O> {
    /// A search list is about to be walked.
    SearchList { list: &'e [u8], source: Source<O> },
    /// The requester's table has an entry for the name: its items, as stored.
    TableEntry { requester: O, items: &'e [u8] },
    /// An item that gives nothing to open here (`$ORIGIN` that cannot be expanded, too long…).
    TableItemUnusable(Item<'e>),
    /// An `=file` item that did not open (the pathname, followed by its NUL).
    StaleTableItem(&'e [u8]),
    /// The table did not answer: the full search follows.
    TableGaveUp,
}

/// How the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<O, F> {
    /// The empty name: musl sets EINVAL.
    Empty,
    /// libc's names and the loader's own name: the loader itself, never searched.
    Loader(NameKind),
    /// An object found before under this short name.
    AlreadyLoaded(O),
    /// A candidate opened: what [`SearchEnv::open`] gave, and where the pathname came from.
    Opened { file: F, source: Source<O> },
    /// Nothing opened, or an error stopped the search (errno is the environment's).
    NotFound,
}

/// `fixup_rpath` < 0 (`readlink` failed, no memory): the whole search stops there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchStops;

/// What the search needs from the loader or from the simulation. `'l` is how long the lists
/// the environment hands out stay valid: the whole search.
pub trait SearchEnv<'l> {
    /// An object of the list of loaded objects.
    type Object: Copy;
    /// What a successful open gives (a descriptor; nothing for the simulation).
    type Opened;

    /// The loader's own name (`ldso.name`), asked only for a name that could be it.
    fn ldso_name(&mut self) -> &'l [u8];
    /// The object loaded before under the short name `name`, if any.
    fn loaded_by_short_name(&mut self, name: &[u8]) -> Option<Self::Object>;
    /// `env_path`: `LD_LIBRARY_PATH` as the loader uses it (None in secure mode).
    fn ld_library_path(&mut self) -> Option<&'l [u8]>;
    /// The entry for `name` in `requester`'s usable table, if it has one.
    fn table_entry(&mut self, requester: Self::Object, name: &[u8]) -> Option<Items<'l>>;
    /// `libc.secure`.
    fn secure(&mut self) -> bool;
    /// `p->kernel_mapped`: the main program mapped by the kernel, whose `$ORIGIN` is
    /// `/proc/self/exe`'s target.
    fn kernel_mapped(&mut self, object: Self::Object) -> bool;
    /// `p->name`: what `$ORIGIN` stands for in any other object.
    fn object_name(&mut self, object: Self::Object) -> &'l [u8];
    /// `readlink("/proc/self/exe")` into `buf`: the target's length, or the errno.
    fn read_exe_link(&mut self, buf: &mut [u8; LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, i32>;
    /// musl's `fixup_rpath` then `p->rpath`: the object's search list, if any.
    fn rpath(&mut self, object: Self::Object) -> Result<Option<&'l [u8]>, SearchStops>;
    /// `p->needed_by`.
    fn needed_by(&mut self, object: Self::Object) -> Option<Self::Object>;
    /// The system search path, read once.
    fn sys_path(&mut self) -> &'l [u8];
    /// Open `path_z` (a pathname followed by its NUL) read-only: what opened, or the errno.
    fn open(&mut self, path_z: &[u8], source: Source<Self::Object>) -> Result<Self::Opened, i32>;
    /// What the search does, as it does it.
    fn note(&mut self, event: Event<'_, Self::Object>) {
        let _ = event;
    }
}

/// musl's `load_library` search for `name` on behalf of `requester` (`needed_by`; None for an
/// `LD_PRELOAD` name, whose search has no table and no rpath).
pub fn search<'l, E: SearchEnv<'l>>(
    env: &mut E,
    name: &[u8],
    requester: Option<E::Object>,
) -> Outcome<E::Object, E::Opened> {
    match classify_with(name, || env.ldso_name()) {
        NameKind::Empty => return Outcome::Empty,
        kind @ (NameKind::LibcAlias(_) | NameKind::LoaderItself) => return Outcome::Loader(kind),
        NameKind::Path => return open_pathname(env, name),
        NameKind::Search => {}
    }
    if let Some(object) = env.loaded_by_short_name(name) {
        return Outcome::AlreadyLoaded(object);
    }
    if !fits_search(name) {
        return Outcome::NotFound;
    }
    let opened = |file| Outcome::Opened { file, source: Source::LdLibraryPath };
    if let Some(list) = env.ld_library_path() {
        match path_open(env, name, list, Source::LdLibraryPath) {
            Walk::Opened(file) => return opened(file),
            Walk::Stopped => return Outcome::NotFound,
            Walk::Exhausted => {}
        }
    }
    let Some(requester) = requester else { return sys_path_open(env, name) };
    if let Some(file) = table_open(env, name, requester) {
        return Outcome::Opened { file, source: Source::Table(requester) };
    }
    let mut next = Some(requester);
    while let Some(object) = next {
        let Ok(rpath) = env.rpath(object) else { return Outcome::NotFound };
        if let Some(list) = rpath {
            match path_open(env, name, list, Source::Rpath(object)) {
                Walk::Opened(file) => return Outcome::Opened { file, source: Source::Rpath(object) },
                Walk::Stopped => return Outcome::NotFound,
                Walk::Exhausted => {}
            }
        }
        next = env.needed_by(object);
    }
    sys_path_open(env, name)
}

/// A name with `/`: opened as it is (a copy with its NUL: musl opens the caller's string).
fn open_pathname<'l, E: SearchEnv<'l>>(env: &mut E, name: &[u8]) -> Outcome<E::Object, E::Opened> {
    let mut path_z = alloc::vec::Vec::new();
    if path_z.try_reserve_exact(name.len() + 1).is_err() {
        return Outcome::NotFound;
    }
    path_z.extend_from_slice(name);
    path_z.push(0);
    match env.open(&path_z, Source::Pathname) {
        Ok(file) => Outcome::Opened { file, source: Source::Pathname },
        Err(_) => Outcome::NotFound,
    }
}

fn sys_path_open<'l, E: SearchEnv<'l>>(env: &mut E, name: &[u8]) -> Outcome<E::Object, E::Opened> {
    let list = env.sys_path();
    match path_open(env, name, list, Source::SysPath) {
        Walk::Opened(file) => Outcome::Opened { file, source: Source::SysPath },
        _ => Outcome::NotFound,
    }
}

/// How one search list's walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk<F> {
    Opened(F),
    /// Every entry failed in a way the search goes on after (`path_open` returns -1).
    Exhausted,
    /// An open failed in a way that stops the whole search (`path_open` returns -2).
    Stopped,
}

/// musl's `path_open` (one step of [`search`], public for `stormless check`'s per-list
/// questions) (1.2.3 dynlink.c:809–833; 1.2.5 :873–897): each entry of `list` joined
/// with `name` in a stack buffer, as musl's; entries that do not fit are skipped.
pub fn path_open<'l, E: SearchEnv<'l>>(
    env: &mut E,
    name: &[u8],
    list: &[u8],
    source: Source<E::Object>,
) -> Walk<E::Opened> {
    env.note(Event::SearchList { list, source });
    let mut buf = [0u8; LOAD_LIBRARY_BUF_SIZE];
    for dir in PathList::new(list) {
        let Some(len) = join_into(dir, name, &mut buf) else { continue };
        match env.open(&buf[..=len], source) {
            Ok(file) => return Walk::Opened(file),
            Err(errno) if !search_continues_after_open_error(errno) => return Walk::Stopped,
            Err(_) => {}
        }
    }
    Walk::Exhausted
}

/// The requester's table (design.md §5 step 3; one step of [`search`]): the first item that
/// opens. None when it does
/// not answer (no table, no entry, nothing opened, or an open error the full search must meet
/// and report itself).
pub fn table_open<'l, E: SearchEnv<'l>>(env: &mut E, name: &[u8], requester: E::Object) -> Option<E::Opened> {
    let items = env.table_entry(requester, name)?;
    env.note(Event::TableEntry { requester, items: items.raw() });
    let secure = env.secure();
    let kernel_mapped = env.kernel_mapped(requester);
    // `/proc/self/exe`, read once, when an item first needs it (as fixup_rpath reads it).
    let mut link = [0u8; LOAD_LIBRARY_BUF_SIZE];
    let mut exe_link = None;
    let mut buf = [0u8; LOAD_LIBRARY_BUF_SIZE];
    for item in items {
        let needs_link = kernel_mapped && item_needs_exe_link(item, secure);
        if needs_link && exe_link.is_none() {
            exe_link = Some(env.read_exe_link(&mut link));
        }
        let exe_link = exe_link.filter(|_| needs_link).map(|result| result.map(|n| &link[..n]));
        let origin = Origin::of_object(kernel_mapped, exe_link, || env.object_name(requester));
        let len = match table_item_path_into(item, name, origin, secure, &mut buf) {
            Ok(len) => len,
            // The full search reports the lack of memory, if it meets it too.
            Err(SkippedBecause::OutOfMemory) => return None,
            Err(_) => {
                env.note(Event::TableItemUnusable(item));
                continue;
            }
        };
        match env.open(&buf[..=len], Source::Table(requester)) {
            Ok(file) => return Some(file),
            Err(errno) if !search_continues_after_open_error(errno) => break,
            Err(_) if matches!(item, Item::File(_)) => env.note(Event::StaleTableItem(&buf[..=len])),
            Err(_) => {}
        }
    }
    env.note(Event::TableGaveUp);
    None
}

#[cfg(test)]
#[path = "driver/tests.rs"]
mod tests;
