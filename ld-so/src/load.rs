//! Finding, opening and mapping libraries: musl's `load_library`,
//! `map_library`, `load_direct_deps`/`load_deps`, `load_preload` and
//! `reclaim_gaps`. Where to look is decided by `stormless_search`, the same
//! crate the CLI uses to predict it.
// `debug_libs!` forwards C varargs into its unsafe dprintf call.
#![allow(clippy::macro_metavars_in_unsafe)]

use crate::dso::{page_size, Dso, Rpath};
use crate::elf::*;
use crate::error::Abort;
use crate::heap;
use crate::mem;
use crate::musl::{ffi, libc};
use crate::state::{ldso_ptr, state};
use crate::symbols::{find_sym, Scope};
use crate::tls;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};
use stormless_elf::layout::{self, Image, Segments};
use stormless_elf::{program_headers_from, Class, Dynamic};
use stormless_search as search;

const O_RDONLY: c_int = 0;
const O_CLOEXEC: c_int = 0o2000000;
const MAP_PRIVATE: c_int = 2;
const MAP_FIXED: c_int = 0x10;
const MAP_ANONYMOUS: c_int = 0x20;
const MAP_FAILED: usize = usize::MAX;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const PROT_EXEC: c_int = 4;
const ENOEXEC: c_int = 8;
const EBUSY: c_int = 16;
const ENOSYS: c_int = 38;
const ENOMEM: c_int = 12;
/// musl's DEFAULT_STACK_MAX (8 MiB).
const DEFAULT_STACK_MAX: usize = 8 << 20;

/// What `fstat` says of an open file: (st_dev, st_ino) for de-duplication, and
/// st_size, against which `map_library` checks the segments. The field offsets in
/// musl's `struct stat` come from the layout probe.
pub struct FileInfo {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}

pub fn file_info(fd: c_int) -> Option<FileInfo> {
    use crate::musl::probed as p;
    extern "C" {
        // 32-bit arches call the time64 variant, as musl's own headers redirect
        // `fstat` there; the exported `fstat` is the time32 compat symbol.
        #[cfg_attr(target_pointer_width = "32", link_name = "__fstat_time64")]
        fn fstat(fd: c_int, st: *mut u8) -> c_int;
    }
    const _: () = assert!(p::STAT_SIZE <= 256, "struct stat larger than the buffer");
    let mut buf = [0u8; 256];
    // SAFETY: buf is larger than struct stat (checked above).
    if unsafe { fstat(fd, buf.as_mut_ptr()) } < 0 {
        return None;
    }
    let word = |off: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[off..off + 8]);
        u64::from_le_bytes(w)
    };
    Some(FileInfo { dev: word(p::STAT_DEV), ino: word(p::STAT_INO), size: word(p::STAT_ST_SIZE) })
}

fn read_all(fd: c_int, buf: &mut [u8]) -> isize {
    // SAFETY: reads into `buf`.
    unsafe { ffi::read(fd, buf.as_mut_ptr() as *mut c_void, buf.len()) }
}

fn pread_all(fd: c_int, buf: &mut [u8], off: usize) -> isize {
    // SAFETY: reads into `buf`.
    unsafe { ffi::pread(fd, buf.as_mut_ptr() as *mut c_void, buf.len(), off as i64) }
}

fn map(addr: usize, len: usize, prot: c_int, flags: c_int, fd: c_int, off: usize) -> usize {
    if len == 0 {
        return addr;
    }
    // SAFETY: mmap with the caller's arguments; MAP_FIXED only over ranges this loader reserved.
    unsafe { ffi::mmap(addr as *mut c_void, len, prot, flags, fd, off as i64) as usize }
}

/// musl's `map_library`: map `fd` (a file of `file_size` bytes) into memory and
/// fill `dso`'s mapping fields. Returns the mapping's start, or None with errno set.
///
/// Unlike musl, nothing of the file is trusted before it is checked (errno
/// ENOEXEC otherwise, through musl's own messages): the identity and program
/// headers against the file size before anything is mapped (`Segments::check`),
/// the dynamic section and the tables it names against the mapped segments
/// before anything reads them (`check_dynamic`). The checks read only what musl
/// reads anyway, and the size comes from the caller's fstat: no system call is
/// added for a valid file.
///
/// Not inlined into `load_library`: a program that needs only libc never maps
/// a file, and `load_library`'s startup path then stays within fewer pages.
#[inline(never)]
pub fn map_library(fd: c_int, file_size: u64, dso: &mut Dso) -> Option<usize> {
    let mut buf = [0u8; 896 + Ehdr::SIZE];
    let l = read_all(fd, &mut buf);
    if l < 0 {
        return None;
    }
    let l = l as usize;
    let noexec = || {
        ffi::set_errno(ENOEXEC);
        None
    };
    if l < Ehdr::SIZE {
        return noexec();
    }
    // SAFETY: buf holds at least Ehdr::SIZE bytes (checked above).
    let eh = unsafe { Ehdr::read(buf.as_ptr() as usize) };
    if eh.e_type != ET_DYN && eh.e_type != ET_EXEC {
        return noexec();
    }
    // musl reads no further than e_type: a file of another class or machine
    // would be mapped with its fields read at the wrong offsets. Program
    // headers must have the class's own size (musl steps by any e_phentsize;
    // no linker writes another).
    if layout::check_ident(&buf[..l], Class::native(), crate::arch::ELF_MACHINE).is_err()
        || eh.e_phentsize != Phdr::SIZE
    {
        return noexec();
    }
    let phsize = eh.e_phnum * Phdr::SIZE;
    if eh.e_phoff.checked_add(phsize).is_none_or(|end| end as u64 > file_size) {
        return noexec();
    }
    // The headers usually sit in the first read; musl reads them separately
    // (into the same stack buffer, or a heap one when large) otherwise.
    let mut heap_buf: Vec<u8> = Vec::new();
    let table: &[u8] = match eh.e_phoff.checked_add(phsize) {
        Some(end) if end <= l => &buf[eh.e_phoff..end],
        _ => {
            if heap_buf.try_reserve_exact(phsize).is_err() {
                ffi::set_errno(ENOMEM);
                return None;
            }
            heap_buf.resize(phsize, 0);
            let r = pread_all(fd, &mut heap_buf, eh.e_phoff);
            if r < 0 {
                return None;
            }
            if r as usize != phsize {
                return noexec();
            }
            &heap_buf
        }
    };
    let page = page_size();
    let Ok(segments) = program_headers_from(table, Class::native(), eh.e_phnum)
        .and_then(|headers| Segments::check(headers, file_size, page as u64))
    else {
        return noexec();
    };
    // SAFETY: header i lies within `table` (phsize = Phdr::SIZE * phnum).
    let header = |i: usize| unsafe { Phdr::read(table.as_ptr() as usize + i * Phdr::SIZE) };
    let headers = (0..eh.e_phnum).map(header);

    let (mut addr_min, mut addr_max) = (usize::MAX, 0usize);
    let (mut writable_min, mut writable_max) = (usize::MAX, 0usize);
    let (mut off_start, mut prot) = (0usize, 0);
    let (mut dyn_vaddr, mut tls_image) = (0usize, 0usize);
    for ph in headers.clone() {
        match ph.p_type {
            PT_DYNAMIC => dyn_vaddr = ph.p_vaddr,
            PT_TLS => tls_image = dso.take_tls_header(&ph),
            PT_GNU_RELRO => {
                dso.relro_start = ph.p_vaddr & !(page - 1);
                dso.relro_end = (ph.p_vaddr + ph.p_memsz) & !(page - 1);
            }
            PT_GNU_STACK => raise_default_stack(ph.p_memsz),
            _ => {}
        }
        if ph.p_type != PT_LOAD {
            continue;
        }
        if ph.p_vaddr < addr_min {
            addr_min = ph.p_vaddr;
            off_start = ph.p_offset;
            prot = ph.prot();
        }
        addr_max = addr_max.max(ph.p_vaddr + ph.p_memsz);
        if ph.p_flags & PF_W != 0 {
            writable_min = writable_min.min(ph.p_vaddr);
            writable_max = writable_max.max(ph.p_vaddr + ph.p_memsz);
        }
    }
    if dyn_vaddr == 0 {
        return noexec();
    }
    addr_max = (addr_max + page - 1) & !(page - 1);
    addr_min &= !(page - 1);
    // reloc_all mprotects the RELRO range: it must lie in this object's own span
    // (musl would change the protection of whatever is mapped there).
    if dso.relro_start != dso.relro_end && !(dso.relro_start >= addr_min && dso.relro_end <= addr_max) {
        return noexec();
    }
    off_start &= !(page - 1);
    let map_len = (addr_max - addr_min).wrapping_add(off_start);
    // Reserve the whole span with the first segment's mapping; later
    // segments are mapped over it with MAP_FIXED.
    let start = map(addr_min, map_len, prot, MAP_PRIVATE, fd, off_start);
    if start == MAP_FAILED {
        return None;
    }
    dso.map = start;
    dso.map_len = map_len;
    let fail = |dso: &mut Dso| {
        unmap(dso);
        None
    };
    if eh.e_type != ET_DYN && addr_min != 0 && start != addr_min {
        ffi::set_errno(EBUSY);
        return fail(dso);
    }
    let base = start.wrapping_sub(addr_min);
    dso.phdr = 0;
    dso.phnum = 0;
    for ph in headers {
        if ph.p_type != PT_LOAD {
            continue;
        }
        // Program headers inside a loaded segment: keep their address for dl_iterate_phdr.
        if dso.phdr == 0 && eh.e_phoff >= ph.p_offset && eh.e_phoff + phsize <= ph.p_offset + ph.p_filesz {
            dso.phdr = base + ph.p_vaddr + (eh.e_phoff - ph.p_offset);
            dso.phnum = eh.e_phnum;
            dso.phentsize = eh.e_phentsize;
        }
        let this_min = ph.p_vaddr & !(page - 1);
        let this_max = (ph.p_vaddr + ph.p_memsz + page - 1) & !(page - 1);
        let off = ph.p_offset & !(page - 1);
        let prot = ph.prot();
        if this_min != addr_min
            && map(base + this_min, this_max - this_min, prot, MAP_PRIVATE | MAP_FIXED, fd, off) == MAP_FAILED
        {
            return fail(dso);
        }
        if ph.p_memsz > ph.p_filesz && ph.p_flags & PF_W != 0 {
            let brk = base + ph.p_vaddr + ph.p_filesz;
            let pgbrk = (brk + page - 1) & !(page - 1);
            // SAFETY: [brk, pgbrk) is the writable tail of the file-backed page.
            unsafe { mem::zero(brk, (pgbrk - brk) & (page - 1)) };
            if pgbrk - base < this_max
                && map(pgbrk, base + this_max - pgbrk, prot, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0)
                    == MAP_FAILED
            {
                return fail(dso);
            }
        }
    }
    dso.base = base;
    dso.dynv = dso.laddr(dyn_vaddr);
    if check_dynamic(dso, &MappedImage { base, segments }).is_none() {
        ffi::set_errno(ENOEXEC);
        return fail(dso);
    }
    let textrel = dso.dynamic().any(|(tag, _)| tag == DT_TEXTREL);
    if textrel {
        // SAFETY: the mapping is ours.
        if unsafe { ffi::mprotect(start as *mut c_void, map_len, PROT_READ | PROT_WRITE | PROT_EXEC) } != 0
            && ffi::errno() != ENOSYS
        {
            return fail(dso);
        }
    }
    if dso.tls.size != 0 {
        dso.tls.image = dso.laddr(tls_image) as *const u8;
    }
    // Relocations may write to the writable segments; with DT_TEXTREL (made
    // writable whole, above) anywhere in the mapping.
    if textrel {
        (writable_min, writable_max) = (addr_min, addr_max);
    }
    (dso.writable_start, dso.writable_span) = crate::dso::writable_extent(base, writable_min, writable_max);
    Some(start)
}

/// A freshly mapped object, read by virtual address only where its checked
/// segments say the memory is mapped and readable.
struct MappedImage<'a> {
    base: usize,
    segments: Segments<'a>,
}

impl Image for MappedImage<'_> {
    fn bytes(&self, vaddr: u64, len: u64) -> Option<&[u8]> {
        self.segments.readable(vaddr, len)?;
        // SAFETY: `readable` holds the range inside a readable segment that
        // map_library mapped at `base` (file data within the file, or zero fill).
        Some(unsafe { core::slice::from_raw_parts(self.base.wrapping_add(vaddr as usize) as *const u8, len as usize) })
    }

    fn region_end(&self, vaddr: u64, len: u64) -> Option<u64> {
        self.segments.readable(vaddr, len)
    }
}

/// The dynamic section must end with DT_NULL inside its segment (every later
/// reader walks it up to DT_NULL), and the tables it names must lie in the
/// mapping; the limits lookups then keep to go into `dso`.
fn check_dynamic(dso: &mut Dso, image: &MappedImage<'_>) -> Option<()> {
    let (dyn_vaddr, region_end) = image.segments.dynamic_region().ok()?;
    let dynamic = Dynamic::new(image.bytes(dyn_vaddr, region_end - dyn_vaddr)?, Class::native());
    if !dynamic.is_terminated() {
        return None;
    }
    let limits = layout::check_tables(dynamic, Class::native(), image).ok()?;
    let end = |vaddr: u64| if vaddr == 0 { usize::MAX } else { image.base.wrapping_add(vaddr as usize) };
    dso.strsz = limits.strsz as usize;
    dso.nsyms = usize::try_from(limits.symbols).unwrap_or(usize::MAX);
    dso.ghash_end = end(limits.gnu_hash_end);
    dso.versym_end = end(limits.versym_end);
    Some(())
}

pub fn unmap(dso: &mut Dso) {
    if dso.map != 0 && dso.map_len != 0 {
        // SAFETY: unmaps exactly what map_library mapped.
        unsafe { ffi::munmap(dso.map as *mut c_void, dso.map_len) };
    }
}

pub fn raise_default_stack(size: usize) {
    if state().runtime {
        return;
    }
    // SAFETY: musl's global, written at startup only.
    unsafe {
        let cur = core::ptr::addr_of_mut!(ffi::__default_stacksize);
        if size > *cur {
            *cur = size.min(DEFAULT_STACK_MAX);
        }
    }
}

/// Give the partial pages around writable segments to malloc (musl's
/// `reclaim_gaps`), avoiding RELRO. Called three times: one copy.
#[inline(never)]
#[link_section = ".text.startup.stormless"]
pub fn reclaim_gaps(dso: &Dso) {
    let page = page_size();
    for ph in dso.program_headers() {
        if ph.p_type != PT_LOAD || ph.p_flags & (PF_R | PF_W) != (PF_R | PF_W) {
            continue;
        }
        reclaim(dso, ph.p_vaddr & !(page - 1), ph.p_vaddr);
        reclaim(dso, ph.p_vaddr + ph.p_memsz, (ph.p_vaddr + ph.p_memsz + page - 1) & !(page - 1));
    }
}

/// musl's `reclaim`: one gap, minus RELRO, to malloc. A function of its own,
/// not inlined twice (under qemu-user each copy of code that runs costs its
/// translation).
#[inline(never)]
#[link_section = ".text.startup.stormless"]
fn reclaim(dso: &Dso, mut start: usize, mut end: usize) {
    if start >= dso.relro_start && start < dso.relro_end {
        start = dso.relro_end;
    }
    if end >= dso.relro_start && end < dso.relro_end {
        end = dso.relro_start;
    }
    if start >= end {
        return;
    }
    let base = dso.laddr(start);
    // SAFETY: the range is mapped, writable, and unused by the object.
    unsafe { ffi::__malloc_donate(base as *mut c_char, (base + (end - start)) as *mut c_char) };
}

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
enum ListSource {
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
fn path_open(name: &[u8], list: &[u8], source: ListSource, found: &mut Vec<u8>) -> c_int {
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
fn fixup_rpath(p: &mut Dso) -> Result<(), ()> {
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
fn sys_path() -> &'static [u8] {
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

/// Append `p` to the list of loaded objects.
fn append(p: *mut Dso) {
    let st = state();
    // SAFETY: tail and p are live Dsos.
    unsafe {
        (*st.tail).next = p;
        (*p).prev = st.tail;
    }
    st.tail = p;
}

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
        // SAFETY: head is the live main program; the list is still during a load.
        let mut p = unsafe { (*st.head).next };
        while !p.is_null() {
            // SAFETY: p is a live Dso of the list.
            let d = unsafe { &*p };
            // SAFETY: a short name points into the object's own NUL-terminated name.
            if !d.shortname.is_null() && unsafe { mem::cstr(d.shortname as usize) } == name {
                crate::debug_libs!(" already loaded: %s", d.name);
                return p;
            }
            p = d.next;
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
    // SAFETY: head is the live main program; the list is still during a load.
    let mut p = unsafe { (*st.head).next };
    while !p.is_null() {
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
        p = d.next;
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

/// A library with TLS loaded by `dlopen`: reserve, per running thread, an
/// enlarged dtv and a copy of the TLS image, so that `install_new_tls` cannot
/// fail once the library is committed (musl allocates them with the dso).
/// False when the memory cannot be had.
fn reserve_thread_tls(d: &mut Dso) -> bool {
    let st = state();
    let w = core::mem::size_of::<usize>();
    let threads = libc().threads_minus_1 as usize + 1;
    // After this library is counted: tls_cnt + 1 modules, plus dtv[0].
    let dtv_words = st.tls_cnt.checked_add(2).and_then(|n| n.checked_mul(threads));
    let image_words = d.tls.size.checked_add(d.tls.align).and_then(|b| b.checked_mul(threads)).map(|b| b.div_ceil(w));
    let (Some(dtv_words), Some(image_words)) = (dtv_words, image_words) else { return false };
    let Some(words) = dtv_words.checked_add(image_words) else { return false };
    let mut space = Vec::new();
    if space.try_reserve_exact(words).is_err() {
        return false;
    }
    space.resize(words, 0);
    let Some(x) = d.dl() else { return false };
    x.tls_space = space;
    // The dtvs first, then the TLS copies (the heap buffer stays put when the
    // Dso moves into its box).
    x.new_dtv = x.tls_space.as_mut_ptr();
    x.new_tls = (x.new_dtv as usize + dtv_words * w) as *mut u8;
    true
}

/// A loaded object's name: the bytes and a NUL in one exact allocation (a
/// growing vector would take more heap, and at times one more mmap, than
/// musl's). [`free_owned_name`] gives it back when a `dlopen` is rolled back.
fn owned_name(bytes: &[u8]) -> Option<*const u8> {
    let v = heap::copy_z(bytes).ok()?;
    Some(Box::into_raw(v.into_boxed_slice()) as *const u8)
}

/// Free a name [`owned_name`] made.
///
/// # Safety
/// `name` came from `owned_name` and nothing refers to it any more.
pub unsafe fn free_owned_name(name: *const u8) {
    // SAFETY: the caller's contract; the length is the string's plus its NUL.
    unsafe {
        let len = mem::cstr(name as usize).len() + 1;
        drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(name as *mut u8, len)));
    }
}

/// `name` and a NUL, to print with `%s`; None when there is no memory for it.
pub fn name_z(name: &[u8]) -> Option<Vec<u8>> {
    heap::copy_z(name).ok()
}

/// What a [`name_z`] result prints as: the name, or `?` when it could not be copied.
pub fn z_ptr(z: &Option<Vec<u8>>) -> *const u8 {
    z.as_ref().map_or(c"?".as_ptr().cast(), |v| v.as_ptr())
}

/// Add a module's TLS image to the list `__copy_tls` and `pthread_create` walk.
pub fn link_tls(d: &mut Dso) {
    let st = state();
    let m = &mut d.tls as *mut crate::musl::TlsModule;
    if st.tls_tail.is_null() {
        libc().tls_head = m;
    } else {
        // SAFETY: tls_tail is a live module.
        unsafe { (*st.tls_tail).next = m };
    }
    st.tls_tail = m;
}

fn short_name(name: *const u8) -> *const u8 {
    // SAFETY: name is a NUL-terminated path; the short name points into it.
    let s = unsafe { mem::cstr(name as usize) };
    match s.iter().rposition(|&b| b == b'/') {
        // SAFETY: i + 1 <= the name's length: at most its NUL.
        Some(i) => unsafe { name.add(i + 1) },
        None => name,
    }
}

/// musl's `load_direct_deps`.
#[link_section = ".text.startup.stormless"]
pub fn load_direct_deps(p: *mut Dso) -> Result<(), Abort> {
    let st = state();
    // SAFETY: p is a live Dso; startup or the dlopen lock keeps others from it.
    let d = unsafe { &mut *p };
    if d.deps_loaded {
        return Ok(());
    }
    // One allocation of the exact size, as musl's calloc(cnt+1): growing the
    // vector would touch more malloc size classes (and cost mmap calls). Up to
    // two entries stay inline, as musl's builtin_deps: no malloc at all.
    let is_head = p == st.head;
    let mut preloads = 0;
    if is_head {
        let mut q = d.next;
        while !q.is_null() {
            preloads += 1;
            // SAFETY: q is a live Dso of the list.
            q = unsafe { (*q).next };
        }
    }
    let needed = d.dynamic().filter(|&(t, _)| t == DT_NEEDED).count();
    let total = preloads + needed;
    // Filled in place by index, as musl fills its array: no growth path to
    // run and no copy of the list afterwards.
    if d.deps.fill_new(total).is_err() {
        crate::error::loading_dependencies(d.name);
        return crate::error::stop_at_runtime();
    }
    let slots = d.deps.as_mut_ptr();
    let mut cnt = 0;
    // Preloaded libraries are the main program's first pseudo-dependencies.
    let mut q = d.next;
    while cnt < preloads {
        // SAFETY: cnt < preloads ≤ total slots.
        unsafe { slots.add(cnt).write(q) };
        cnt += 1;
        // SAFETY: q is a live Dso of the list.
        q = unsafe { (*q).next };
    }
    for (tag, off) in d.dynamic() {
        if tag != DT_NEEDED {
            continue;
        }
        let name = d.string(off);
        let dep = load_library(name, p);
        if dep.is_null() {
            crate::error::loading_dependency(name.as_ptr(), d.name);
            if let Err(abort) = crate::error::stop_at_runtime() {
                // No half-filled list left behind for the rollback.
                d.deps.clear();
                return Err(abort);
            }
            continue;
        }
        // SAFETY: at most one slot per DT_NEEDED entry counted above (the
        // dynamic section does not change in between): cnt < total.
        unsafe { slots.add(cnt).write(dep) };
        cnt += 1;
    }
    d.deps.truncate(cnt);
    d.ndeps_direct = cnt;
    d.deps_loaded = true;
    Ok(())
}

/// musl's `load_deps`: every object from `p` to the end of the list.
#[link_section = ".text.startup.stormless"]
pub fn load_deps(mut p: *mut Dso) -> Result<(), Abort> {
    // SAFETY: p is a live Dso.
    if unsafe { (*p).deps_loaded } {
        return Ok(());
    }
    while !p.is_null() {
        load_direct_deps(p)?;
        // SAFETY: p is a live Dso of the list.
        p = unsafe { (*p).next };
    }
    Ok(())
}

/// musl's `extend_bfs_deps`: append to `p`'s direct dependencies the rest of
/// its dependency closure, breadth first, each object once, so that a
/// `dlopen` handle's symbol scope is the object and everything it needs.
pub fn extend_bfs_deps(p: *mut Dso) -> Result<(), Abort> {
    let st = state();
    // SAFETY: (the whole function) live Dsos, under the dlopen lock.
    unsafe {
        if (*p).bfs_built {
            return Ok(());
        }
        for &dep in (*p).deps.iter() {
            (*dep).mark = true;
        }
        let mut i = 0;
        while i < (*p).deps.len() {
            let dep = (&(*p).deps)[i];
            let direct = &(&(*dep).deps)[..(*dep).ndeps_direct];
            let new = direct.iter().filter(|&&q| !(*q).mark).count();
            if (*p).deps.try_reserve_exact(new).is_err() {
                crate::error::recording_dependencies((*p).name);
                crate::error::stop_at_runtime()?;
                i += 1;
                continue;
            }
            for j in 0..(*dep).ndeps_direct {
                let q = (&(*dep).deps)[j];
                if !(*q).mark {
                    (*q).mark = true;
                    (*p).deps.push(q);
                }
            }
            i += 1;
        }
        (*p).bfs_built = true;
        let mut q = st.head;
        while !q.is_null() {
            (*q).mark = false;
            q = (*q).next;
        }
    }
    Ok(())
}

/// musl's `load_preload`: names separated by spaces or colons.
pub fn load_preload(list: &[u8]) {
    // C's isspace: space, \t, \n, \v, \f, \r.
    for name in list.split(|b| b" \t\n\x0b\x0c\r:".contains(b)).filter(|n| !n.is_empty()) {
        load_library(name, core::ptr::null_mut());
    }
}
