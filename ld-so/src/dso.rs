//! One loaded object (musl's `struct dso`): its fields, its program headers,
//! what the kernel mapped. What is read from its dynamic section is in
//! `dso/dynamic.rs`, its symbol and string tables in `dso/strings.rs`.
//! Addresses are run-time addresses (`usize`); reading through them goes
//! through `mem`.
use crate::elf::*;
use crate::mem;
use crate::musl::TlsModule;

mod dynamic;
mod strings;
use core::ptr;
pub use dynamic::Decoded;

/// What is known of an object's own table, so that it is validated only once
/// and its note found only once.
#[derive(Clone, Copy)]
pub enum TableState {
    NotLookedFor,
    /// No note, or one that could not be decoded.
    Unusable,
    /// The validated descriptor, and where the next lookup in it starts (the
    /// loader asks for an object's names one after another: resuming after
    /// the previous hit makes them one pass over a sorted table).
    Usable {
        desc: &'static [u8],
        cursor: stormless_ldcache::Cursor,
    },
}

/// The first five fields are `struct link_map` (`l_addr`, `l_name`, `l_ld`,
/// `l_next`, `l_prev`): gdb walks them from `r_debug`, and `dlinfo` hands a
/// handle out as a link map, exactly as with musl's `struct dso`.
#[repr(C)]
pub struct Dso {
    pub base: usize,
    /// NUL-terminated path (or "libc.so"/argv[0]), as dl_iterate_phdr reports it.
    pub name: *const u8,
    pub dynv: usize,
    pub next: *mut Dso,
    pub prev: *mut Dso,
    pub shortname: *const u8,
    pub phdr: usize,
    pub phnum: usize,
    pub phentsize: usize,
    pub syms: usize,
    pub hashtab: usize,
    pub ghashtab: usize,
    pub versym: usize,
    pub strings: usize,
    pub syms_next: *mut Dso,
    pub map: usize,
    pub map_len: usize,
    pub dev: u64,
    pub ino: u64,
    pub relocated: bool,
    pub constructed: bool,
    pub kernel_mapped: bool,
    pub mark: bool,
    pub bfs_built: bool,
    pub runtime_loaded: bool,
    /// Found through its requester's resolution table (`--list` marks it).
    pub from_table: bool,
    /// This object's own resolution table: looked for yet, and if usable,
    /// where it is and where the next lookup in it starts.
    pub table: TableState,
    /// Direct dependencies first (`ndeps_direct`), then, once `bfs_built`, the
    /// rest of the breadth-first closure.
    pub deps: crate::ptrlist::PtrList<Dso, 2>,
    /// musl's `p->deps != 0`: the direct dependencies were loaded (possibly none).
    pub deps_loaded: bool,
    pub ndeps_direct: usize,
    pub next_dep: usize,
    pub needed_by: *mut Dso,
    pub ctor_visitor: usize,
    /// Address of the RPATH/RUNPATH string, 0 if none.
    pub rpath_orig: usize,
    /// The rpath after `$ORIGIN` expansion, once computed.
    pub rpath: Option<Rpath>,
    pub tls: TlsModule,
    pub tls_id: usize,
    pub relro_start: usize,
    pub relro_end: usize,
    /// Where relocations may write, as run-time addresses: the hull of the
    /// writable PT_LOADs (the whole mapping for DT_TEXTREL, which musl makes
    /// writable), checked before each write as `addr - writable_start <=
    /// writable_span` (the span already less one word, so one compare covers
    /// a whole word). (0, usize::MAX), no limit, until map_library or
    /// adopt_kernel_mapping sets it (the latter for the loader too, in stage
    /// 2, from its own program headers).
    pub writable_start: usize,
    pub writable_span: usize,
    pub fini_next: *mut Dso,
    pub got: usize,
    /// What only objects `dlopen` loads need, allocated when first needed so
    /// that the object itself stays in musl's malloc size class (a larger
    /// `Dso` costs every startup heap pages, and system calls).
    pub dl: Option<alloc::boxed::Box<DlExtras>>,
    /// Limits of what lookups read from an object map_library checked
    /// (`stormless_elf::layout::check_tables`): string offsets below `strsz`,
    /// symbol indexes below `nsyms`, GNU hash chains and version entries
    /// below these run-time addresses. usize::MAX for the objects the kernel
    /// mapped.
    pub strsz: usize,
    pub nsyms: usize,
    pub ghash_end: usize,
    pub versym_end: usize,
}

/// A search path from RPATH/RUNPATH, once `$ORIGIN` was dealt with.
pub enum Rpath {
    /// No `$ORIGIN`: the string in the object itself (`rpath_orig`), as musl
    /// points `p->rpath` at it, without copying.
    Verbatim,
    Expanded(alloc::vec::Vec<u8>),
}

/// The parts of a [`Dso`] only `dlopen` uses.
pub struct DlExtras {
    /// Loaded with TLS while threads may run: per thread, an enlarged dtv
    /// (`new_dtv`, `tls_cnt + 1` words each) then a copy of the TLS image
    /// (`new_tls`), reserved at load time so that installing them cannot fail
    /// (musl's `new_dtv`/`new_tls`, allocated with the dso).
    pub tls_space: alloc::vec::Vec<usize>,
    pub new_dtv: *mut usize,
    pub new_tls: *mut u8,
    /// Descriptors handed to TLSDESC relocations of this object against
    /// dynamic TLS (musl's `td_index` list): freed with the object when a
    /// `dlopen` fails. Boxed: each descriptor's address is in a GOT, so it
    /// must not move when the list grows.
    #[allow(clippy::vec_box)]
    pub tlsdescs: alloc::vec::Vec<alloc::boxed::Box<[usize; 2]>>,
    /// RTLD_LAZY: PLT/GOT relocations whose symbol is not yet defined,
    /// retried after each later `dlopen` (`offset, info, addend`).
    pub lazy: Option<alloc::vec::Vec<[usize; 3]>>,
    pub lazy_next: *mut Dso,
}

impl Dso {
    /// The `dlopen`-only parts, created on first use; None when there is no
    /// memory for them.
    pub fn dl(&mut self) -> Option<&mut DlExtras> {
        if self.dl.is_none() {
            let extras = DlExtras {
                tls_space: alloc::vec::Vec::new(),
                new_dtv: ptr::null_mut(),
                new_tls: ptr::null_mut(),
                tlsdescs: alloc::vec::Vec::new(),
                lazy: None,
                lazy_next: ptr::null_mut(),
            };
            self.dl = Some(crate::heap::boxed(extras).ok()?);
        }
        self.dl.as_deref_mut()
    }

    /// The search path of RPATH/RUNPATH, once `fixup_rpath` computed it.
    pub fn rpath_bytes(&self) -> Option<&[u8]> {
        match self.rpath.as_ref()? {
            // SAFETY: rpath_orig points into the object's string table.
            Rpath::Verbatim => Some(unsafe { mem::cstr(self.rpath_orig) }),
            Rpath::Expanded(v) => Some(v),
        }
    }

    /// The RTLD_LAZY list, if the object has one.
    pub fn lazy(&mut self) -> Option<&mut alloc::vec::Vec<[usize; 3]>> {
        self.dl.as_mut().and_then(|x| x.lazy.as_mut())
    }

    pub const fn empty() -> Dso {
        Dso {
            base: 0,
            name: ptr::null(),
            dynv: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            shortname: ptr::null(),
            phdr: 0,
            phnum: 0,
            phentsize: 0,
            syms: 0,
            hashtab: 0,
            ghashtab: 0,
            versym: 0,
            strings: 0,
            syms_next: ptr::null_mut(),
            map: 0,
            map_len: 0,
            dev: 0,
            ino: 0,
            relocated: false,
            constructed: false,
            kernel_mapped: false,
            mark: false,
            bfs_built: false,
            runtime_loaded: false,
            from_table: false,
            table: TableState::NotLookedFor,
            deps: crate::ptrlist::PtrList::new(),
            deps_loaded: false,
            ndeps_direct: 0,
            next_dep: 0,
            needed_by: ptr::null_mut(),
            ctor_visitor: 0,
            rpath_orig: 0,
            rpath: None,
            tls: TlsModule { next: ptr::null_mut(), image: ptr::null(), len: 0, size: 0, align: 0, offset: 0 },
            tls_id: 0,
            relro_start: 0,
            relro_end: 0,
            writable_start: 0,
            writable_span: usize::MAX,
            fini_next: ptr::null_mut(),
            got: 0,
            dl: None,
            strsz: usize::MAX,
            nsyms: usize::MAX,
            ghash_end: usize::MAX,
            versym_end: usize::MAX,
        }
    }

    /// musl's `laddr`: the run-time address of virtual address `v`.
    pub fn laddr(&self, v: usize) -> usize {
        self.base.wrapping_add(v)
    }

    pub fn name_bytes(&self) -> &'static [u8] {
        // SAFETY: `name` always points to a NUL-terminated string that lives as long as the Dso.
        unsafe { mem::cstr(self.name as usize) }
    }

    pub fn program_headers(&self) -> impl Iterator<Item = Phdr> + '_ {
        (0..self.phnum).map(move |i| self.phdr_at(i))
    }

    /// Program header `i` (copied out, so the caller may mutate `self` meanwhile).
    pub fn phdr_at(&self, i: usize) -> Phdr {
        // SAFETY: phdr/phnum/phentsize describe a mapped program-header table.
        unsafe { Phdr::read(self.phdr + i * self.phentsize) }
    }

    /// Record a PT_TLS header's sizes; returns the image's virtual address,
    /// which becomes `tls.image` once the base is known.
    pub fn take_tls_header(&mut self, ph: &Phdr) -> usize {
        self.tls.len = ph.p_filesz;
        self.tls.size = ph.p_memsz;
        // 0 and 1 both mean "no alignment" in ELF; every offset computation masks with
        // -align, which needs a power of two (0 made the whole TLS image overlap the thread
        // block, and __copy_tls faulted). A hostile non-power is rounded up.
        self.tls.align = ph.p_align.max(1).checked_next_power_of_two().unwrap_or(1 << (usize::BITS - 1));
        ph.p_vaddr
    }

    /// musl's `kernel_mapped_dso`: an object the kernel (or stage 0) mapped.
    /// Returns the largest PT_GNU_STACK size seen, for `__default_stacksize`.
    /// Runs in stage 2 for the loader itself, so it must not allocate.
    #[link_section = ".text.startup.stormless"]
    pub fn adopt_kernel_mapping(&mut self) -> usize {
        let (mut min, mut max, mut stack) = (usize::MAX, 0usize, 0usize);
        let (mut writable_min, mut writable_max) = (usize::MAX, 0usize);
        for i in 0..self.phnum {
            let ph = self.phdr_at(i);
            match ph.p_type {
                PT_DYNAMIC => self.dynv = self.laddr(ph.p_vaddr),
                PT_GNU_RELRO => {
                    self.relro_start = ph.p_vaddr & !(page_size() - 1);
                    self.relro_end = (ph.p_vaddr + ph.p_memsz) & !(page_size() - 1);
                }
                PT_GNU_STACK => stack = stack.max(ph.p_memsz),
                _ => {}
            }
            if ph.p_type != PT_LOAD {
                continue;
            }
            min = min.min(ph.p_vaddr);
            max = max.max(ph.p_vaddr + ph.p_memsz);
            if ph.p_flags & PF_W != 0 {
                writable_min = writable_min.min(ph.p_vaddr);
                writable_max = writable_max.max(ph.p_vaddr + ph.p_memsz);
            }
        }
        let page = page_size();
        min &= !(page - 1);
        max = (max + page - 1) & !(page - 1);
        self.map = self.base.wrapping_add(min);
        self.map_len = max.wrapping_sub(min);
        self.kernel_mapped = true;
        (self.writable_start, self.writable_span) = writable_extent(self.base, writable_min, writable_max);
        // musl would mprotect a PT_GNU_RELRO wherever it points; one outside the
        // program's own segments protects nothing of the program's.
        if !(self.relro_start >= min && self.relro_end <= max) {
            (self.relro_start, self.relro_end) = (0, 0);
        }
        stack
    }

    /// Limits for the symbol and string tables of a program the kernel mapped,
    /// whose tables no one checked: a symbol index or string offset from a
    /// relocation reads no further than the end of the program's mapping
    /// (a hostile index once read gigabytes past it). Cheaper than checking
    /// the tables as map_library does: two subtractions and a division.
    #[link_section = ".text.startup.stormless"]
    pub fn bound_tables_by_mapping(&mut self, d: &Decoded) {
        let end = self.map.wrapping_add(self.map_len);
        self.nsyms = end.saturating_sub(self.syms) / Sym::SIZE;
        // DT_STRSZ ends the table with its NUL; the mapping bounds a hostile one.
        let strsz = if d.has(DT_STRSZ) { d.get(DT_STRSZ) } else { usize::MAX };
        self.strsz = strsz.min(end.saturating_sub(self.strings)).max(1);
    }

    /// Whether `len` bytes at run-time address `addr` lie where relocations
    /// may write (see `writable_start`).
    pub fn writable(&self, addr: usize, len: usize) -> bool {
        let off = addr.wrapping_sub(self.writable_start);
        // The span is the extent less one word: add it back for other widths.
        off <= self.writable_span && len <= self.writable_span.saturating_add(crate::elf::WORD) - off
    }
}

/// The process page size, set from AT_PAGESZ in stage 3 (musl's PAGE_SIZE is
/// `libc.page_size` on every arch it supports here).
pub fn page_size() -> usize {
    // SAFETY: `__libc` is musl's; page_size is written once in stage 3, before any mapping.
    let p = crate::musl::libc::page_size();
    if p == 0 {
        4096
    } else {
        p
    }
}

/// The extent `[lo, hi)` (link-time addresses of an object at run-time base
/// `base`) as (start, span less one word) for [`Dso::writable_start`]; an
/// empty or inverted one, for an object with nothing writable, as an extent no
/// address passes.
pub fn writable_extent(base: usize, lo: usize, hi: usize) -> (usize, usize) {
    match hi.checked_sub(lo).and_then(|len| len.checked_sub(crate::elf::WORD)) {
        Some(span) => (base.wrapping_add(lo), span),
        None => (usize::MAX, 0),
    }
}
