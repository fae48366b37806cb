//! Mapping an opened object into memory: musl's `map_library` (with the checks
//! musl leaves out), `unmap`, the `PT_GNU_STACK` default stack size, and
//! `reclaim_gaps`, which gives the unused ends of writable pages to malloc.
//! Nothing here searches or decides which file to map.

use crate::dso::{page_size, Dso};
use crate::elf::*;
use crate::mem;
use crate::musl::ffi;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};
use stormless_elf::layout::{self, Image, Segments};
use stormless_elf::{program_headers_from, Class, Dynamic};

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

/// `read` into `buf`: the byte count, or -1 with errno set.
pub fn read_all(fd: c_int, buf: &mut [u8]) -> isize {
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
    if crate::error::at_runtime() {
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
