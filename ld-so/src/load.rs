//! musl's `load_library`: the object a name resolves to for its requester,
//! found in the search order of design.md §5 and mapped, named and appended
//! to the list of loaded objects. The pieces it is made of live by concern:
//! `find` (opening candidates, search lists, `$ORIGIN`), `map` (mapping a
//! file), `deps` (the object list and the dependency walk), `names`, `tls`.
//! Their entry points used elsewhere are re-exported here under the names
//! callers have always used (`load::map_library`, `load::load_deps`, …).
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

mod deps;
mod find;
mod map;
mod names;

use crate::dso::Dso;
use crate::heap;
use crate::musl::ffi;
use crate::state::{head, ldso_ptr, State};
use crate::symbols::{find_sym, Scope};
use crate::tls::{self, reserve_thread_tls};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use deps::append;
use find::LoaderSearch;
use map::FileInfo;
use names::{owned_name, short_name};
use stormless_search as search;
use stormless_search::{Outcome, Source};

use crate::ld_debug::{name_z, z_ptr};
pub use crate::tls::link_tls;
pub use deps::{extend_bfs_deps, load_deps, load_preload, Objects};
pub use map::{file_info, map_library, raise_default_stack, reclaim_gaps, unmap};
pub use names::free_owned_name;

const ENOMEM: core::ffi::c_int = 12;

/// libc's names and the loader's own: the loader itself, appended to the list
/// the first time (ldd reports each alias once).
fn loader_itself(st: &mut State, name: &[u8], kind: search::NameKind, debug_name: *const u8) -> *mut Dso {
    if let search::NameKind::LibcAlias(alias) = kind {
        crate::debug_libs!(" %s is libc, the loader itself", debug_name);
        if st.ldd_mode && st.ldd_reported & alias.ldd_report_bit() == 0 {
            st.ldd_reported |= alias.ldd_report_bit();
            // SAFETY: C strings and a pointer for %p.
            unsafe {
                ffi::dprintf(
                    1,
                    c"\t%s => %s (%p)\n".as_ptr(),
                    z_ptr(&name_z(name)),
                    (*ldso_ptr()).name,
                    (*ldso_ptr()).base as *const c_void,
                )
            };
        }
    } else {
        crate::debug_libs!(" %s is the loader itself", debug_name);
    }
    let ldso = ldso_ptr();
    // SAFETY: the loader's object, live.
    if unsafe { (*ldso).prev.is_null() } {
        append(st, ldso);
    }
    ldso
}

/// musl's `load_library`: the object `name` resolves to for `needed_by`,
/// loading it if needed. Null with errno set when it cannot be loaded.
#[link_section = ".text.startup.stormless"]
pub fn load_library(st: &mut State, name: &[u8], needed_by: *mut Dso) -> *mut Dso {
    let debug_name = if crate::ld_debug::libs() { name_z(name) } else { None };
    let debug_name = z_ptr(&debug_name);
    if crate::ld_debug::libs() {
        let by: *const u8 = if needed_by.is_null() {
            c"LD_PRELOAD".as_ptr().cast()
        } else {
            // SAFETY: a non-null needed_by is the live requester.
            unsafe { (*needed_by).name }
        };
        crate::debug_libs!("find library=%s [needed by %s]", debug_name, by);
    }
    let mut found: Vec<u8> = Vec::new();
    let requester = (!needed_by.is_null()).then_some(needed_by);
    let (fd, source) = match search::search(&mut LoaderSearch { st, found: &mut found }, name, requester) {
        Outcome::Opened { file, source } => (file, source),
        Outcome::AlreadyLoaded(p) => return p,
        Outcome::Loader(kind) => return loader_itself(st, name, kind, debug_name),
        Outcome::Empty => {
            ffi::set_errno(search::errno::EINVAL);
            return core::ptr::null_mut();
        }
        Outcome::NotFound => {
            if crate::ld_debug::libs() {
                // SAFETY: strerror returns a static string for any errno.
                let why = unsafe { ffi::strerror(ffi::errno()) };
                crate::debug_libs!(" not found: %s (%s)", debug_name, why);
            }
            return core::ptr::null_mut();
        }
    };
    let by_path = matches!(source, Source::Pathname);
    let from_table = matches!(source, Source::Table(_));
    if crate::ld_debug::libs() {
        let found_z = name_z(&found);
        crate::debug_libs!(" found file=%s", z_ptr(&found_z));
    }
    let Some(FileInfo { dev, ino, size }) = file_info(fd) else {
        // SAFETY: our descriptor.
        unsafe { ffi::close(fd) };
        return core::ptr::null_mut();
    };
    for p in Objects::after(head()) {
        // SAFETY: p is a live Dso of the list.
        let d = unsafe { &mut *p };
        if d.dev == dev && d.ino == ino {
            // Loaded before by pathname, found now by a search: make the short
            // name known so later searches reuse it.
            if d.shortname.is_null() && !by_path {
                d.shortname = short_name(d.name);
            }
            crate::debug_libs!(" same file (device and inode) as the loaded %s", d.name);
            // SAFETY: our descriptor.
            unsafe { ffi::close(fd) };
            return p;
        }
    }
    let mut temp = Dso::empty();
    let mapped = if st.noload { None } else { map_library(fd, size, &mut temp) };
    // SAFETY: our descriptor.
    unsafe { ffi::close(fd) };
    if mapped.is_none() {
        return core::ptr::null_mut();
    }
    // Never map a second libc: a file defining both of these is musl or glibc.
    temp.decode_dyn();
    // The global walk from `temp`, as musl's find_sym: its chain is just
    // itself (syms_next is null), and startup then runs one lookup walk.
    let tp: *mut Dso = &mut temp;
    if find_sym(tp, b"__libc_start_main", true, Scope::Global).is_some()
        && find_sym(tp, b"stdin", true, Scope::Global).is_some()
    {
        unmap(&mut temp);
        return load_library(st, b"libc.so", needed_by);
    }
    if !crate::error::at_runtime() {
        reclaim_gaps(&temp);
    }
    if crate::error::at_runtime() && !temp.tls.image.is_null() && !reserve_thread_tls(st, &mut temp) {
        unmap(&mut temp);
        ffi::set_errno(ENOMEM);
        return core::ptr::null_mut();
    }
    temp.dev = dev;
    temp.ino = ino;
    temp.needed_by = needed_by;
    temp.from_table = from_table;
    temp.runtime_loaded = crate::error::at_runtime();
    let Some(name_copy) = owned_name(&found) else {
        unmap(&mut temp);
        ffi::set_errno(ENOMEM);
        return core::ptr::null_mut();
    };
    temp.name = name_copy;
    if !by_path {
        temp.shortname = short_name(temp.name);
    }
    let p = match heap::boxed(temp) {
        Ok(b) => Box::leak(b) as *mut Dso,
        Err(mut temp) => {
            unmap(&mut temp);
            // SAFETY: made above; nothing else refers to it.
            unsafe { free_owned_name(temp.name) };
            ffi::set_errno(ENOMEM);
            return core::ptr::null_mut();
        }
    };
    // SAFETY: p was just leaked from its box and appended: live, ours alone.
    let d = unsafe { &mut *p };
    if !d.tls.image.is_null() {
        st.tls_cnt += 1;
        d.tls_id = st.tls_cnt;
        tls::assign_offset(st, &mut d.tls, false);
        link_tls(st, d);
    }
    append(st, p);
    crate::debug_libs!(" mapped %s at %p", d.name, d.base as *const c_void);
    if st.ldd_mode {
        let mark = if from_table { c" [table]" } else { c"" };
        // SAFETY: C strings and a pointer for %p.
        unsafe {
            ffi::dprintf(
                1,
                c"\t%s => %s (%p)%s\n".as_ptr(),
                z_ptr(&name_z(name)),
                d.name,
                d.base as *const c_void,
                mark.as_ptr(),
            )
        };
    }
    p
}
