//! The search's side effects, for `load::load_library`: opening candidates
//! (counted for `LD_DEBUG=statistics`, reported under `LD_DEBUG=libs`),
//! musl's `path_open` over one search list, `$ORIGIN` (`origin`,
//! `read_exe_link`, `fixup_rpath`) and the system path file. What each list
//! is and how a candidate is spelt is `stormless_search`'s, shared with the CLI.
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

use super::map::read_all;
use super::names::{name_z, z_ptr};
use crate::dso::{Dso, Rpath};
use crate::elf::DT_RUNPATH;
use crate::heap;
use crate::mem;
use crate::musl::{ffi, libc};
use crate::state::state;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int};
use stormless_search as search;

const O_RDONLY: c_int = 0;
const O_CLOEXEC: c_int = 0o2000000;
const ENOMEM: c_int = 12;

/// Open a pathname read-only (a copy with its NUL is made for `open`); -1
/// with errno set when it cannot be opened or copied.
pub fn open_path(path: &[u8]) -> c_int {
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

/// One candidate of a search (the rpath walk's or a resolution table's),
/// NUL-terminated: reported under `LD_DEBUG=libs`, then opened.
pub fn open_candidate(path_z: &[u8]) -> c_int {
    crate::debug_libs!("  trying file=%s", path_z.as_ptr());
    open_z(path_z)
}

/// `readlink("/proc/self/exe")` into `buf`, musl's buffer for it: the target's
/// length, or the errno.
pub fn read_exe_link(buf: &mut [u8; search::LOAD_LIBRARY_BUF_SIZE]) -> Result<usize, c_int> {
    // SAFETY: readlink into `buf`, at most its length.
    let n = unsafe { ffi::readlink(c"/proc/self/exe".as_ptr(), buf.as_mut_ptr() as *mut c_char, buf.len()) };
    if n < 0 {
        Err(ffi::errno())
    } else {
        Ok(n as usize)
    }
}

/// What `$ORIGIN` stands for in `p`'s rpath or resolution table: for the
/// kernel-mapped main program the `/proc/self/exe` outcome when the caller
/// read it (only when an expansion needs it, as musl reads it), else the
/// object's own name.
pub fn origin<'a>(p: &Dso, exe_link: Option<Result<&'a [u8], c_int>>) -> search::Origin<'a> {
    match exe_link {
        Some(result) => search::Origin::from_exe_readlink(result),
        None if p.kernel_mapped => search::Origin::ExeLinkUnavailable,
        None => search::Origin::ObjectName(p.name_bytes()),
    }
}

/// Where a search list came from, for `LD_DEBUG=libs`.
#[derive(Clone, Copy)]
pub enum ListSource {
    LdLibraryPath,
    Rpath(*const Dso),
    SysPath,
}

fn debug_search_list(list: &[u8], source: ListSource) {
    if !state().debug.libs {
        return;
    }
    let list_z = name_z(list);
    let list_z = z_ptr(&list_z);
    match source {
        ListSource::LdLibraryPath => crate::debug_libs!(" search path=%s\t\t(LD_LIBRARY_PATH)", list_z),
        ListSource::SysPath => crate::debug_libs!(" search path=%s\t\t(system search path)", list_z),
        ListSource::Rpath(d) => {
            // SAFETY: a live Dso.
            let d = unsafe { &*d };
            let tag = if d.dynamic().any(|(t, _)| t == DT_RUNPATH) { c"RUNPATH" } else { c"RPATH" };
            crate::debug_libs!(" search path=%s\t\t(%s from file %s)", list_z, tag.as_ptr(), d.name);
        }
    }
}

/// musl's `path_open`: try each entry of `list`; -1 when none opened and the
/// search may go on, -2 when an error must stop it. Candidates are built in a
/// stack buffer, as musl's are: the search itself allocates nothing.
pub fn path_open(name: &[u8], list: &[u8], source: ListSource, found: &mut Vec<u8>) -> c_int {
    debug_search_list(list, source);
    let mut buf = [0u8; search::LOAD_LIBRARY_BUF_SIZE];
    for dir in search::PathList::new(list) {
        let Some(len) = search::join_into(dir, name, &mut buf) else { continue };
        // join_into NUL-terminated the pathname.
        let fd = open_candidate(&buf[..=len]);
        if fd >= 0 {
            if heap::copy_into(found, &buf[..len]).is_err() {
                // SAFETY: our descriptor.
                unsafe { ffi::close(fd) };
                ffi::set_errno(ENOMEM);
                return -2;
            }
            return fd;
        }
        if !search::search_continues_after_open_error(ffi::errno()) {
            return -2;
        }
    }
    -1
}

/// musl's `fixup_rpath`: compute `p.rpath` (the rpath after `$ORIGIN`
/// expansion) once it can be; Err(()) when the search must stop. Searches read
/// `p.rpath` in place: copying it per search costs the heap pages (and mmap
/// calls) stock musl does not spend.
pub fn fixup_rpath(p: &mut Dso) -> Result<(), ()> {
    if p.rpath.is_some() || p.rpath_orig == 0 {
        return Ok(());
    }
    // SAFETY: rpath_orig points into the object's string table.
    let orig = unsafe { mem::cstr(p.rpath_orig) };
    let secure = libc().secure != 0;
    let mut link = [0u8; search::LOAD_LIBRARY_BUF_SIZE];
    let exe_link = (p.kernel_mapped && search::needs_exe_link(orig, secure)).then(|| read_exe_link(&mut link));
    let origin = origin(p, exe_link.map(|r| r.map(|n| &link[..n])));
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

/// The system search path, read once (musl's `sys_path`), searched in place.
pub fn sys_path() -> &'static [u8] {
    let st = state();
    if st.sys_path.is_none() {
        st.sys_path = Some(read_sys_path(st.ldso.name_bytes()));
    }
    st.sys_path.as_deref().unwrap_or_default()
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
