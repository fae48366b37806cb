//! Finding, opening and mapping libraries: musl's `load_library`,
//! `map_library`, `load_direct_deps`/`load_deps`, `load_preload` and
//! `reclaim_gaps`. Where to look is decided by `stormless_search`, the same
//! crate the CLI uses to predict it.
use crate::dso::{page_size, Dso};
use crate::elf::*;
use crate::mem;
use crate::musl::{ffi, libc};
use crate::state::{ldso_ptr, state};
use crate::symbols::{find_sym, Scope};
use crate::tls;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};
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
/// musl's DEFAULT_STACK_MAX (8 MiB).
const DEFAULT_STACK_MAX: usize = 8 << 20;

/// (st_dev, st_ino) of an open file, for de-duplication; the field offsets in
/// musl's `struct stat` come from the layout probe.
fn file_identity(fd: c_int) -> Option<(u64, u64)> {
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
    Some((word(p::STAT_DEV), word(p::STAT_INO)))
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

/// musl's `map_library`: map `fd` into memory and fill `dso`'s mapping fields.
/// Returns the mapping's start, or None with errno set.
pub fn map_library(fd: c_int, dso: &mut Dso) -> Option<usize> {
    let mut buf = [0u8; 896 + Ehdr::SIZE];
    let l = read_all(fd, &mut buf);
    if l < 0 {
        return None;
    }
    let l = l as usize;
    // SAFETY: buf holds at least Ehdr::SIZE bytes (checked next before use).
    let eh = unsafe { Ehdr::read(buf.as_ptr() as usize) };
    if l < Ehdr::SIZE || (eh.e_type != ET_DYN && eh.e_type != ET_EXEC) {
        ffi::set_errno(ENOEXEC);
        return None;
    }
    let phsize = eh.e_phentsize.checked_mul(eh.e_phnum)?;
    if eh.e_phentsize < Phdr::SIZE && eh.e_phnum > 0 {
        ffi::set_errno(ENOEXEC);
        return None;
    }
    // The headers usually sit in the first read; musl reads them separately
    // (into the same stack buffer, or a heap one when large) otherwise.
    let mut heap_buf: Vec<u8> = Vec::new();
    let table: &[u8] = match eh.e_phoff.checked_add(phsize) {
        Some(end) if end <= l => &buf[eh.e_phoff..end],
        _ => {
            heap_buf.resize(phsize, 0);
            let r = pread_all(fd, &mut heap_buf, eh.e_phoff);
            if r < 0 {
                return None;
            }
            if r as usize != phsize {
                ffi::set_errno(ENOEXEC);
                return None;
            }
            &heap_buf
        }
    };
    // SAFETY: header i lies within `table` (phsize = phentsize * phnum, phentsize >= Phdr::SIZE).
    let header = |i: usize| unsafe { Phdr::read(table.as_ptr() as usize + i * eh.e_phentsize) };
    let headers = (0..eh.e_phnum).map(header);

    let page = page_size();
    let (mut addr_min, mut addr_max) = (usize::MAX, 0usize);
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
        addr_max = addr_max.max(ph.p_vaddr.wrapping_add(ph.p_memsz));
    }
    if dyn_vaddr == 0 {
        ffi::set_errno(ENOEXEC);
        return None;
    }
    addr_max = (addr_max + page - 1) & !(page - 1);
    addr_min &= !(page - 1);
    off_start &= !(page - 1);
    let map_len = addr_max.wrapping_sub(addr_min).wrapping_add(off_start);
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
    if dso.dynamic().any(|(tag, _)| tag == DT_TEXTREL) {
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
    Some(start)
}

fn unmap(dso: &mut Dso) {
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
/// `reclaim_gaps`), avoiding RELRO.
pub fn reclaim_gaps(dso: &Dso) {
    let page = page_size();
    let reclaim = |mut start: usize, mut end: usize| {
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
    };
    for ph in dso.program_headers() {
        if ph.p_type != PT_LOAD || ph.p_flags & (PF_R | PF_W) != (PF_R | PF_W) {
            continue;
        }
        reclaim(ph.p_vaddr & !(page - 1), ph.p_vaddr);
        reclaim(ph.p_vaddr + ph.p_memsz, (ph.p_vaddr + ph.p_memsz + page - 1) & !(page - 1));
    }
}

fn open_path(path: &[u8]) -> c_int {
    let mut z = Vec::with_capacity(path.len() + 1);
    z.extend_from_slice(path);
    z.push(0);
    // SAFETY: z is NUL-terminated.
    unsafe { ffi::open(z.as_ptr() as *const c_char, O_RDONLY | O_CLOEXEC) }
}

/// musl's `path_open`: try each entry of `list`; -1 when none opened and the
/// search may go on, -2 when an error must stop it. Candidates are built in a
/// stack buffer, as musl's are: the search itself allocates nothing.
fn path_open(name: &[u8], list: &[u8], found: &mut Vec<u8>) -> c_int {
    let mut buf = [0u8; search::LOAD_LIBRARY_BUF_SIZE];
    for dir in search::PathList::new(list) {
        let Some(len) = search::join_into(dir, name, &mut buf) else { continue };
        // SAFETY: join_into NUL-terminated the pathname.
        let fd = unsafe { ffi::open(buf.as_ptr() as *const c_char, O_RDONLY | O_CLOEXEC) };
        if fd >= 0 {
            found.clear();
            found.extend_from_slice(&buf[..len]);
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
    let origin = if p.kernel_mapped && search::needs_exe_link(orig, secure) {
        // SAFETY: readlink into `link`.
        let n = unsafe { ffi::readlink(c"/proc/self/exe".as_ptr(), link.as_mut_ptr() as *mut c_char, link.len()) };
        if n < 0 {
            let e = ffi::errno();
            if search::exe_link_error_is_tolerated(e) {
                search::Origin::ExeLinkUnavailable
            } else {
                search::Origin::ExeLinkFailed(e)
            }
        } else {
            search::Origin::ExeLink(&link[..n as usize])
        }
    } else if p.kernel_mapped {
        search::Origin::ExeLinkUnavailable
    } else {
        search::Origin::ObjectName(p.name_bytes())
    };
    match search::expand_rpath(Some(orig), origin, secure) {
        search::Expanded::Verbatim(v) => {
            p.rpath = Some(v.to_vec());
            Ok(())
        }
        search::Expanded::Substituted(v) => {
            p.rpath = Some(v);
            Ok(())
        }
        search::Expanded::ExeLinkFailed(e) => {
            ffi::set_errno(e);
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
fn read_sys_path(ldso_name: &[u8]) -> Vec<u8> {
    let file = search::sys_path_file(ldso_name, crate::arch::LDSO_ARCH);
    let fd = open_path(&file);
    let contents;
    let path = if fd >= 0 {
        let mut data = Vec::new();
        let mut chunk = [0u8; 512];
        let mut ok = true;
        loop {
            let n = read_all(fd, &mut chunk);
            if n < 0 {
                ok = false;
                break;
            }
            if n == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..n as usize]);
        }
        // SAFETY: closes our descriptor.
        unsafe { ffi::close(fd) };
        contents = data;
        search::sys_path(if ok { search::SysPathFile::Read(&contents) } else { search::SysPathFile::Unusable }).to_vec()
    } else {
        search::sys_path(search::SysPathFile::open_failed(ffi::errno())).to_vec()
    };
    path
}

fn leak_cstr(bytes: &[u8]) -> *const u8 {
    let mut v = Vec::with_capacity(bytes.len() + 1);
    v.extend_from_slice(bytes);
    v.push(0);
    v.leak().as_ptr()
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
pub fn load_library(name: &[u8], needed_by: *mut Dso) -> *mut Dso {
    let st = state();
    let ldso = ldso_ptr();
    match search::classify(name, st.ldso.name_bytes()) {
        search::NameKind::Empty => {
            ffi::set_errno(search::errno::EINVAL);
            return core::ptr::null_mut();
        }
        search::NameKind::LibcAlias(alias) => {
            // ldd reports each alias once, as the loader itself.
            if st.ldd_mode && st.ldd_reported & alias.ldd_report_bit() == 0 {
                st.ldd_reported |= alias.ldd_report_bit();
                // SAFETY: C strings and a pointer for %p.
                unsafe {
                    ffi::dprintf(
                        1,
                        c"\t%s => %s (%p)\n".as_ptr(),
                        name_z(name).as_ptr(),
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
            if st.ldso.prev.is_null() {
                append(ldso);
            }
            return ldso;
        }
        _ => {}
    }
    let mut found: Vec<u8> = Vec::new();
    let by_path = name.contains(&b'/');
    let fd;
    if by_path {
        fd = open_path(name);
        found.extend_from_slice(name);
    } else {
        // Already loaded under this short name (set only by searches)?
        let mut p = unsafe { (*st.head).next };
        while !p.is_null() {
            let d = unsafe { &*p };
            if !d.shortname.is_null() && unsafe { mem::cstr(d.shortname as usize) } == name {
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
            f = path_open(name, unsafe { mem::cstr(st.env_path) }, &mut found);
        }
        let mut p = needed_by;
        while f == -1 && !p.is_null() {
            let d = unsafe { &mut *p };
            match fixup_rpath(d) {
                Err(()) => f = -2,
                Ok(()) => {
                    if let Some(rpath) = &d.rpath {
                        f = path_open(name, rpath, &mut found);
                    }
                }
            }
            p = d.needed_by;
        }
        if f == -1 {
            f = path_open(name, sys_path(), &mut found);
        }
        fd = f;
    }
    if fd < 0 {
        return core::ptr::null_mut();
    }
    let Some((dev, ino)) = file_identity(fd) else {
        // SAFETY: our descriptor.
        unsafe { ffi::close(fd) };
        return core::ptr::null_mut();
    };
    let mut p = unsafe { (*st.head).next };
    while !p.is_null() {
        let d = unsafe { &mut *p };
        if d.dev == dev && d.ino == ino {
            // Loaded before by pathname, found now by a search: make the short
            // name known so later searches reuse it.
            if d.shortname.is_null() && !by_path {
                d.shortname = short_name(d.name);
            }
            // SAFETY: our descriptor.
            unsafe { ffi::close(fd) };
            return p;
        }
        p = d.next;
    }
    let mut temp = Dso::empty();
    let mapped = if st.noload { None } else { map_library(fd, &mut temp) };
    // SAFETY: our descriptor.
    unsafe { ffi::close(fd) };
    if mapped.is_none() {
        return core::ptr::null_mut();
    }
    // Never map a second libc: a file defining both of these is musl or glibc.
    temp.decode_dyn();
    let tp: *mut Dso = &mut temp;
    if find_sym(tp, b"__libc_start_main", true, Scope::Deps).is_some()
        && find_sym(tp, b"stdin", true, Scope::Deps).is_some()
    {
        unmap(&mut temp);
        return load_library(b"libc.so", needed_by);
    }
    if !st.runtime {
        reclaim_gaps(&temp);
    }
    temp.dev = dev;
    temp.ino = ino;
    temp.needed_by = needed_by;
    temp.runtime_loaded = st.runtime;
    temp.name = leak_cstr(&found);
    if !by_path {
        temp.shortname = short_name(temp.name);
    }
    let p = Box::leak(Box::new(temp)) as *mut Dso;
    let d = unsafe { &mut *p };
    if !d.tls.image.is_null() {
        st.tls_cnt += 1;
        d.tls_id = st.tls_cnt;
        tls::assign_offset(&mut d.tls, false);
        link_tls(d);
    }
    append(p);
    if st.ldd_mode {
        // SAFETY: C strings and a pointer for %p.
        unsafe {
            ffi::dprintf(1, c"\t%s => %s (%p)\n".as_ptr(), name_z(name).as_ptr(), d.name, d.base as *const c_void)
        };
    }
    p
}

fn name_z(name: &[u8]) -> Vec<u8> {
    let mut v = name.to_vec();
    v.push(0);
    v
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
        Some(i) => unsafe { name.add(i + 1) },
        None => name,
    }
}

/// musl's `load_direct_deps`.
pub fn load_direct_deps(p: *mut Dso) {
    let st = state();
    let d = unsafe { &mut *p };
    if d.deps_loaded {
        return;
    }
    // One allocation of the exact size, as musl's calloc(cnt+1): growing the
    // vector would touch more malloc size classes (and cost mmap calls).
    let is_head = p == st.head;
    let mut preloads = 0;
    if is_head {
        let mut q = d.next;
        while !q.is_null() {
            preloads += 1;
            q = unsafe { (*q).next };
        }
    }
    let needed = d.dynamic().filter(|&(t, _)| t == DT_NEEDED).count();
    let mut deps: Vec<*mut Dso> = Vec::with_capacity(preloads + needed);
    if is_head {
        // Preloaded libraries are the main program's first pseudo-dependencies.
        let mut q = d.next;
        while !q.is_null() {
            deps.push(q);
            q = unsafe { (*q).next };
        }
    }
    for (tag, off) in d.dynamic() {
        if tag != DT_NEEDED {
            continue;
        }
        let name = d.string(off);
        let dep = load_library(name, p);
        if dep.is_null() {
            crate::error::loading_dependency(name.as_ptr(), d.name);
            continue;
        }
        deps.push(dep);
    }
    d.ndeps_direct = deps.len();
    d.deps = deps;
    d.deps_loaded = true;
}

/// musl's `load_deps`: every object from `p` to the end of the list.
pub fn load_deps(mut p: *mut Dso) {
    if unsafe { (*p).deps_loaded } {
        return;
    }
    while !p.is_null() {
        load_direct_deps(p);
        p = unsafe { (*p).next };
    }
}

/// musl's `load_preload`: names separated by spaces or colons.
pub fn load_preload(list: &[u8]) {
    // C's isspace: space, \t, \n, \v, \f, \r.
    for name in list.split(|b| b" \t\n\x0b\x0c\r:".contains(b)).filter(|n| !n.is_empty()) {
        load_library(name, core::ptr::null_mut());
    }
}
