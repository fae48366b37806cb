//! The loader's side of the search (`stormless_search::search`, which owns
//! the order, the candidates and the stopping rules, shared with the CLI):
//! opening candidates (counted for `LD_DEBUG=statistics`, reported under
//! `LD_DEBUG=libs`), the loaded objects' short names, `$ORIGIN`
//! (`read_exe_link`, `fixup_rpath`), the requester's table and the system
//! path file.
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

use super::deps::Objects;
use super::map::read_all;
use crate::dso::{Dso, Rpath};
use crate::elf::DT_RUNPATH;
use crate::heap;
use crate::ld_debug::{name_z, z_ptr};
use crate::mem;
use crate::musl::{ffi, libc};
use crate::state::{head, ldso_ptr, State};
use alloc::vec::Vec;
use core::ffi::{c_char, c_int};
use stormless_ldcache::Items;
use stormless_search as search;
use stormless_search::{Event, SearchEnv, Source};

const O_RDONLY: c_int = 0;
const O_CLOEXEC: c_int = 0o2000000;
const ENOMEM: c_int = 12;

/// The search's environment in the loader: real opens, the live object list.
/// The pathname that opened is copied into `found`.
pub struct LoaderSearch<'f> {
    pub st: &'f mut State,
    pub found: &'f mut Vec<u8>,
}

// Objects are `*mut Dso`s of the live list (or the requester being loaded
// from): none is freed while a search runs, so what they hand out (names,
// rpaths, notes in mapped memory) outlives the search; the lists are 'static.
impl SearchEnv<'static> for LoaderSearch<'_> {
    type Object = *mut Dso;
    type Opened = c_int;

    fn ldso_name(&mut self) -> &'static [u8] {
        ldso_name()
    }

    fn loaded_by_short_name(&mut self, name: &[u8]) -> Option<*mut Dso> {
        let found = Objects::after(head()).find(|&p| {
            // SAFETY: p is a live Dso of the list.
            let d = unsafe { &*p };
            // SAFETY: a short name points into the object's own NUL-terminated name.
            !d.shortname.is_null() && unsafe { mem::cstr(d.shortname as usize) } == name
        })?;
        // SAFETY: a live Dso of the list.
        let loaded_name = unsafe { (*found).name };
        crate::debug_libs!(" already loaded: %s", loaded_name);
        Some(found)
    }

    fn ld_library_path(&mut self) -> Option<&'static [u8]> {
        let env_path = self.st.env_path;
        // SAFETY: env_path is a C string from the environment or argv.
        (env_path != 0).then(|| unsafe { mem::cstr(env_path) })
    }

    fn table_entry(&mut self, requester: *mut Dso, name: &[u8]) -> Option<Items<'static>> {
        // SAFETY: the requester is live (see above).
        crate::table::entry(unsafe { &mut *requester }, name)
    }

    fn secure(&mut self) -> bool {
        libc::secure() != 0
    }

    fn kernel_mapped(&mut self, object: *mut Dso) -> bool {
        // SAFETY: a live Dso.
        unsafe { (*object).kernel_mapped }
    }

    fn object_name(&mut self, object: *mut Dso) -> &'static [u8] {
        // SAFETY: a live Dso; its name lives as long as it does.
        unsafe { (*object).name_bytes() }
    }

    fn read_exe_link(&mut self, buf: &mut [u8; search::LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, i32> {
        read_exe_link(buf)
    }

    fn rpath(&mut self, object: *mut Dso) -> Result<Option<&'static [u8]>, search::SearchStops> {
        // SAFETY: a live Dso of the needed_by chain; its rpath lives as long as it does.
        let d = unsafe { &mut *object };
        fixup_rpath(d).map_err(|()| search::SearchStops)?;
        Ok(d.rpath_bytes())
    }

    fn needed_by(&mut self, object: *mut Dso) -> Option<*mut Dso> {
        // SAFETY: a live Dso.
        let next = unsafe { (*object).needed_by };
        (!next.is_null()).then_some(next)
    }

    fn sys_path(&mut self) -> &'static [u8] {
        sys_path(self.st)
    }

    fn open(&mut self, path_z: &[u8], source: Source<*mut Dso>) -> Result<c_int, i32> {
        if !matches!(source, Source::Pathname) {
            crate::debug_libs!("  trying file=%s", path_z.as_ptr());
        }
        let fd = open_z(path_z);
        if fd < 0 {
            return Err(ffi::errno());
        }
        if heap::copy_into(self.found, &path_z[..path_z.len() - 1]).is_err() {
            // SAFETY: our descriptor.
            unsafe { ffi::close(fd) };
            ffi::set_errno(ENOMEM);
            return Err(ENOMEM);
        }
        Ok(fd)
    }

    fn note(&mut self, event: Event<'_, *mut Dso>) {
        if crate::ld_debug::libs() {
            debug_event(event);
        }
    }
}

/// `LD_DEBUG=libs`' account of the search.
fn debug_event(event: Event<'_, *mut Dso>) {
    match event {
        Event::SearchList { list, source } => debug_search_list(list, source),
        Event::TableEntry { requester, items } => {
            let list = name_z(items);
            // SAFETY: a live Dso.
            let of = unsafe { (*requester).name };
            crate::debug_libs!(" search resolution table: %s\t\t(of file %s)", z_ptr(&list), of);
        }
        Event::TableItemUnusable(item) => {
            let raw = name_z(item.path());
            crate::debug_libs!("  table item not usable here: %c%s", item.prefix() as c_int, z_ptr(&raw));
        }
        Event::StaleTableItem(path_z) => crate::debug_libs!("  stale table entry: %s", path_z.as_ptr()),
        Event::TableGaveUp => crate::debug_libs!(" nothing in the resolution table opened: full search"),
    }
}

/// Open a pathname read-only (a copy with its NUL is made for `open`); -1
/// with errno set when it cannot be opened or copied.
fn open_path(path: &[u8]) -> c_int {
    let Ok(z) = heap::copy_z(path) else {
        ffi::set_errno(ENOMEM);
        return -1;
    };
    open_z(&z)
}

/// Open a NUL-terminated pathname read-only, counted for `LD_DEBUG=statistics`.
/// Every caller builds `path_z` with its NUL.
fn open_z(path_z: &[u8]) -> c_int {
    debug_assert!(path_z.last() == Some(&0), "pathname without its NUL");
    // SAFETY: NUL-terminated, by every caller.
    let fd = unsafe { ffi::open(path_z.as_ptr() as *const c_char, O_RDONLY | O_CLOEXEC) };
    crate::ld_debug::count_open(fd);
    fd
}

/// `readlink("/proc/self/exe")` into `buf`, musl's buffer for it: the target's
/// length, or the errno.
fn read_exe_link(buf: &mut [u8; search::LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, c_int> {
    // SAFETY: readlink into `buf`, at most its length.
    let n = unsafe { ffi::readlink(c"/proc/self/exe".as_ptr(), buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if n < 0 {
        Err(ffi::errno())
    } else {
        Ok(n as usize)
    }
}

fn debug_search_list(list: &[u8], source: Source<*mut Dso>) {
    let list_z = name_z(list);
    let list_z = z_ptr(&list_z);
    match source {
        Source::LdLibraryPath => crate::debug_libs!(" search path=%s\t\t(LD_LIBRARY_PATH)", list_z),
        Source::SysPath => crate::debug_libs!(" search path=%s\t\t(system search path)", list_z),
        Source::Rpath(d) => {
            // SAFETY: a live Dso.
            let d = unsafe { &*d };
            let tag = if d.dynamic().any(|(t, _)| t == DT_RUNPATH) { c"RUNPATH" } else { c"RPATH" };
            crate::debug_libs!(" search path=%s\t\t(%s from file %s)", list_z, tag.as_ptr(), d.name);
        }
        Source::Pathname | Source::Table(_) => {}
    }
}

/// musl's `fixup_rpath`: compute `p.rpath` (the rpath after `$ORIGIN`
/// expansion) once it can be; Err(()) when the search must stop. Searches read
/// `p.rpath` in place: copying it per search costs the heap pages (and mmap
/// calls) stock musl does not spend.
fn fixup_rpath(p: &mut Dso) -> Result<(), ()> {
    if p.rpath.is_some() || p.rpath_orig == 0 {
        return Ok(());
    }
    // SAFETY: rpath_orig points into the object's string table.
    let orig = unsafe { mem::cstr(p.rpath_orig) };
    let secure = libc::secure() != 0;
    let mut link = [0u8; search::LOAD_LIBRARY_BUF_SIZE];
    let exe_link = (p.kernel_mapped && search::needs_exe_link(orig, secure)).then(|| read_exe_link(&mut link));
    let exe_link = exe_link.map(|result| result.map(|n| &link[..n]));
    let origin = search::Origin::of_object(p.kernel_mapped, exe_link, || p.name_bytes());
    match search::expand_rpath(Some(orig), origin, secure) {
        // Verbatim is `orig` itself: point at it, as musl does.
        search::Expanded::Verbatim(_) => {
            p.rpath = Some(Rpath::Verbatim);
            Ok(())
        }
        search::Expanded::Substituted(v) => {
            p.rpath = Some(Rpath::Expanded(v));
            Ok(())
        }
        search::Expanded::ExeLinkFailed(e) => {
            ffi::set_errno(e);
            Err(())
        }
        search::Expanded::OutOfMemory => {
            ffi::set_errno(ENOMEM);
            Err(())
        }
        search::Expanded::Absent | search::Expanded::Ignored(_) => Ok(()),
    }
}

/// The loader's own name (`ldso.name`).
fn ldso_name() -> &'static [u8] {
    // SAFETY: the loader's own object is live; its name is set at startup and in
    // command mode, never while a search runs.
    unsafe { (*ldso_ptr()).name_bytes() }
}

/// The system search path, read once (musl's `sys_path`), searched in place.
fn sys_path(st: &mut State) -> &'static [u8] {
    if st.sys_path.is_none() {
        st.sys_path = Some(read_sys_path(ldso_name()).leak());
    }
    st.sys_path.unwrap_or_default()
}

/// `<prefix>/etc/ld-musl-<arch>.path`, or musl's default when it is absent.
/// Out of memory anywhere here, the path is empty: musl's `sys_path = ""`
/// when its `getdelim` fails.
fn read_sys_path(ldso_name: &[u8]) -> Vec<u8> {
    let Ok(file) = search::sys_path_file(ldso_name, crate::arch::LDSO_ARCH) else { return Vec::new() };
    let fd = open_path(&file);
    let mut data = Vec::new();
    let source = if fd >= 0 {
        let mut chunk = [0u8; 512];
        let ok = loop {
            let n = read_all(fd, &mut chunk);
            if n <= 0 || heap::reserve(&mut data, n as usize).is_err() {
                break n == 0;
            }
            data.extend_from_slice(&chunk[..n as usize]);
        };
        // SAFETY: closes our descriptor.
        unsafe { ffi::close(fd) };
        if ok {
            search::SysPathFile::Read(&data)
        } else {
            search::SysPathFile::Unusable
        }
    } else {
        search::SysPathFile::open_failed(ffi::errno())
    };
    let mut path = Vec::new();
    let _ = heap::copy_into(&mut path, search::sys_path(source));
    path
}
