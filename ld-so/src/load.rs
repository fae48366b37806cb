//! musl's `load_library`: the object a name resolves to for its requester,
//! found in the search order of design.md §5 and mapped, named and appended
//! to the list of loaded objects. The pieces it is made of live by concern:
//! `find` (opening candidates, search lists, `$ORIGIN`), `map` (mapping a
//! file), `deps` (the object list and the dependency walk), `names`, `tls`.
//! Their entry points used elsewhere are re-exported here under the names
//! callers have always used (`load::map_library`, `load::name_z`, …).
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

mod deps;
mod find;
mod map;
mod names;

use crate::dso::Dso;
use crate::heap;
use crate::mem;
use crate::musl::ffi;
use crate::state::{ldso_ptr, state};
use crate::symbols::{find_sym, Scope};
use crate::tls::{self, reserve_thread_tls};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use deps::append;
use find::{fixup_rpath, open_path, path_open, sys_path, ListSource};
use map::FileInfo;
use names::{owned_name, short_name};
use stormless_search as search;

pub use crate::tls::link_tls;
pub use deps::{extend_bfs_deps, load_deps, load_preload, Objects};
pub use find::{open_candidate, origin, read_exe_link};
pub use map::{file_info, map_library, raise_default_stack, reclaim_gaps, unmap};
pub use names::{free_owned_name, name_z, z_ptr};

const ENOMEM: core::ffi::c_int = 12;

/// musl's `load_library`: the object `name` resolves to for `needed_by`,
/// loading it if needed. Null with errno set when it cannot be loaded.
#[link_section = ".text.startup.stormless"]
pub fn load_library(name: &[u8], needed_by: *mut Dso) -> *mut Dso {
    let st = state();
    let ldso = ldso_ptr();
    let debug_name = if st.debug.libs { name_z(name) } else { None };
    let debug_name = z_ptr(&debug_name);
    if st.debug.libs {
        let by: *const u8 = if needed_by.is_null() {
            c"LD_PRELOAD".as_ptr().cast()
        } else {
            // SAFETY: a non-null needed_by is the live requester.
            unsafe { (*needed_by).name }
        };
        crate::debug_libs!("find library=%s [needed by %s]", debug_name, by);
    }
    match search::classify_with(name, || st.ldso.name_bytes()) {
        search::NameKind::Empty => {
            ffi::set_errno(search::errno::EINVAL);
            return core::ptr::null_mut();
        }
        search::NameKind::LibcAlias(alias) => {
            crate::debug_libs!(" %s is libc, the loader itself", debug_name);
            // ldd reports each alias once, as the loader itself.
            if st.ldd_mode && st.ldd_reported & alias.ldd_report_bit() == 0 {
                st.ldd_reported |= alias.ldd_report_bit();
                // SAFETY: C strings and a pointer for %p.
                unsafe {
                    ffi::dprintf(
                        1,
                        c"\t%s => %s (%p)\n".as_ptr(),
                        z_ptr(&name_z(name)),
                        st.ldso.name,
                        st.ldso.base as *const c_void,
                    )
                };
            }
            if st.ldso.prev.is_null() {
                append(ldso);
            }
            return ldso;
        }
        search::NameKind::LoaderItself => {
            crate::debug_libs!(" %s is the loader itself", debug_name);
            if st.ldso.prev.is_null() {
                append(ldso);
            }
            return ldso;
        }
        _ => {}
    }
    let mut found: Vec<u8> = Vec::new();
    let mut from_table = false;
    let by_path = name.contains(&b'/');
    let fd;
    if by_path {
        fd = open_path(name);
        if fd >= 0 && heap::copy_into(&mut found, name).is_err() {
            // SAFETY: our descriptor.
            unsafe { ffi::close(fd) };
            ffi::set_errno(ENOMEM);
            return core::ptr::null_mut();
        }
    } else {
        // Already loaded under this short name (set only by searches)?
        for p in Objects::after(st.head) {
            // SAFETY: p is a live Dso of the list.
            let d = unsafe { &*p };
            // SAFETY: a short name points into the object's own NUL-terminated name.
            if !d.shortname.is_null() && unsafe { mem::cstr(d.shortname as usize) } == name {
                crate::debug_libs!(" already loaded: %s", d.name);
                return p;
            }
        }
        if !search::fits_search(name) {
            return core::ptr::null_mut();
        }
        let mut f = -1;
        if st.env_path != 0 {
            // SAFETY: env_path is a C string from the environment or argv.
            f = path_open(name, unsafe { mem::cstr(st.env_path) }, ListSource::LdLibraryPath, &mut found);
        }
        // design.md §5 step 3: the requester's resolution table.
        if f == -1 && !needed_by.is_null() {
            // SAFETY: a live Dso.
            if let Some(table_fd) = crate::table::open(name, unsafe { &mut *needed_by }, &mut found) {
                f = table_fd;
                from_table = true;
            }
        }
        let mut p = needed_by;
        while f == -1 && !p.is_null() {
            // SAFETY: p walks needed_by links of live Dsos.
            let d = unsafe { &mut *p };
            match fixup_rpath(d) {
                Err(()) => f = -2,
                Ok(()) => {
                    if let Some(rpath) = d.rpath_bytes() {
                        f = path_open(name, rpath, ListSource::Rpath(d), &mut found);
                    }
                }
            }
            p = d.needed_by;
        }
        if f == -1 {
            f = path_open(name, sys_path(), ListSource::SysPath, &mut found);
        }
        fd = f;
    }
    if fd < 0 {
        if st.debug.libs {
            // SAFETY: strerror returns a static string for any errno.
            let why = unsafe { ffi::strerror(ffi::errno()) };
            crate::debug_libs!(" not found: %s (%s)", debug_name, why);
        }
        return core::ptr::null_mut();
    }
    if st.debug.libs {
        let found_z = name_z(&found);
        crate::debug_libs!(" found file=%s", z_ptr(&found_z));
    }
    let Some(FileInfo { dev, ino, size }) = file_info(fd) else {
        // SAFETY: our descriptor.
        unsafe { ffi::close(fd) };
        return core::ptr::null_mut();
    };
    for p in Objects::after(st.head) {
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
        return load_library(b"libc.so", needed_by);
    }
    if !st.runtime {
        reclaim_gaps(&temp);
    }
    if st.runtime && !temp.tls.image.is_null() && !reserve_thread_tls(&mut temp) {
        unmap(&mut temp);
        ffi::set_errno(ENOMEM);
        return core::ptr::null_mut();
    }
    temp.dev = dev;
    temp.ino = ino;
    temp.needed_by = needed_by;
    temp.from_table = from_table;
    temp.runtime_loaded = st.runtime;
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
        tls::assign_offset(&mut d.tls, false);
        link_tls(d);
    }
    append(p);
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
