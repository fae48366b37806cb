//! Looking into loaded objects at run time: `__dlsym` (behind musl's
//! `dlsym`), `__dl_invalid_handle` (behind `dlclose` and `dlinfo`), `dladdr`
//! and `dl_iterate_phdr`, as musl's `dynlink.c` answers them.
use crate::dso::Dso;
use crate::elf::*;
use crate::error;
use crate::initfini::LOCK;
use crate::mem;
use crate::state::{gencnt, head, ldso_ptr};
use crate::symbols::{find_sym, Scope};
use crate::tls::DTP_OFFSET;
use core::ffi::{c_char, c_int, c_void};
use core::ptr;

/// `RTLD_NEXT` is `(void *)-1`; `RTLD_DEFAULT` is null.
const RTLD_NEXT: usize = usize::MAX;

extern "C" {
    fn pthread_rwlock_rdlock(l: *mut u8) -> c_int;
    fn pthread_rwlock_unlock(l: *mut u8) -> c_int;
    fn __tls_get_addr(v: *const usize) -> *mut c_void;
}

/// Run `f` under the loader lock, read-locked.
fn read_locked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: musl's rwlock API on the loader's lock.
    unsafe { pthread_rwlock_rdlock(LOCK.get()) };
    let r = f();
    // SAFETY: pairs with the rdlock above.
    unsafe { pthread_rwlock_unlock(LOCK.get()) };
    r
}

fn objects() -> impl Iterator<Item = *mut Dso> {
    let mut p = head();
    core::iter::from_fn(move || {
        let cur = p;
        if cur.is_null() {
            return None;
        }
        // SAFETY: the object list links live Dsos; objects are never unloaded.
        p = unsafe { (*cur).next };
        Some(cur)
    })
}

/// `__dl_invalid_handle`: 0 for a handle `dlopen` returned, else 1 with
/// musl's `dlerror()` text.
pub extern "C" fn dl_invalid_handle(h: *mut c_void) -> c_int {
    if objects().any(|p| p as *mut c_void == h) {
        return 0;
    }
    error::invalid_handle(h);
    1
}

/// musl's `addr2dso`: the object one of whose segments holds `a`.
fn addr2dso(a: usize) -> *mut Dso {
    for p in objects() {
        // SAFETY: a live Dso.
        let d = unsafe { &*p };
        for ph in d.program_headers() {
            if ph.p_type == PT_LOAD && a.wrapping_sub(d.base).wrapping_sub(ph.p_vaddr) < ph.p_memsz {
                return p;
            }
        }
        // Inside this object's mapping but in no segment: a gap, nobody's.
        if a.wrapping_sub(d.map) < d.map_len {
            return ptr::null_mut();
        }
    }
    ptr::null_mut()
}

/// `__dlsym(handle, name, caller's return address)`.
pub extern "C" fn dlsym(handle: *mut c_void, name: *const c_char, ra: *mut c_void) -> *mut c_void {
    read_locked(|| do_dlsym(handle, name, ra))
}

fn do_dlsym(handle: *mut c_void, name: *const c_char, ra: *mut c_void) -> *mut c_void {
    let head = head();
    let h = handle as *mut Dso;
    let (start, scope) = if h.is_null() || h == head {
        (head, Scope::Global)
    } else if handle as usize == RTLD_NEXT {
        // The objects after the caller's, in load order, then on along the
        // global chain (musl starts find_sym there).
        let caller = match addr2dso(ra as usize) {
            q if q.is_null() => head,
            q => q,
        };
        // SAFETY: a live Dso.
        (unsafe { (*caller).next }, Scope::Global)
    } else if dl_invalid_handle(handle) != 0 {
        return ptr::null_mut();
    } else {
        (h, Scope::Deps)
    };
    // SAFETY: the caller's NUL-terminated name.
    let s = unsafe { mem::cstr(name as usize) };
    let Some(def) = find_sym(start, s, false, scope) else {
        error::symbol_not_found(name);
        return ptr::null_mut();
    };
    // SAFETY: a live Dso.
    let dd = unsafe { &*def.dso };
    let sym = def.sym();
    if sym.typ() == STT_TLS {
        let v = [dd.tls_id, sym.st_value.wrapping_sub(DTP_OFFSET)];
        // SAFETY: {module, offset} of a loaded module, as __tls_get_addr takes.
        return unsafe { __tls_get_addr(v.as_ptr()) };
    }
    dd.laddr(sym.st_value) as *mut c_void
}

/// `__dlsym_redir_time64`: on 32-bit arches a program built with 64-bit
/// `time_t` asks `dlsym` for `time`, `stat`, … and must get the time64 entry
/// points libc exports under redirected names (`__time64`, `__stat_time64`).
pub extern "C" fn dlsym_redir_time64(handle: *mut c_void, name: *const c_char, ra: *mut c_void) -> *mut c_void {
    if cfg!(target_pointer_width = "32") {
        let mut buf = [0u8; stormless_elf::TIME64_REDIRECT_BUF];
        // SAFETY: the caller's NUL-terminated name.
        let s = unsafe { mem::cstr(name as usize) };
        if let Some(len) = stormless_elf::time64_redirect(s, &mut buf) {
            if find_sym(ldso_ptr(), &buf[..len], true, Scope::Global).is_some() {
                return dlsym(handle, buf.as_ptr() as *const c_char, ra);
            }
        }
    }
    dlsym(handle, name, ra)
}

/// `Dl_info`.
#[repr(C)]
pub struct DlInfo {
    fname: *const c_char,
    fbase: *mut c_void,
    sname: *const c_char,
    saddr: *mut c_void,
}

/// musl's `count_syms`: the number of dynamic symbols, from the hash table
/// (ELF records it nowhere else). The GNU hash table's last chain is walked as
/// musl walks it, but never past the region map_library checked (`ghash_end`):
/// a chain without its end bit stops there instead of reading on.
fn count_syms(d: &Dso) -> usize {
    // SAFETY: (the whole function) the hash tables of a loaded object, read within
    // the bounds map_library checked (the header and buckets; chains below
    // ghash_end).
    unsafe {
        if d.hashtab != 0 {
            return mem::read::<u32>(d.hashtab + 4) as usize;
        }
        let gh = d.ghashtab;
        if gh == 0 {
            return 0;
        }
        let nbuckets = mem::read::<u32>(gh) as usize;
        let symoffset = mem::read::<u32>(gh + 4) as usize;
        let buckets = gh + 16 + mem::read::<u32>(gh + 8) as usize * WORD;
        let mut nsym = (0..nbuckets).map(|i| mem::read::<u32>(buckets + 4 * i) as usize).max().unwrap_or(0);
        // A highest bucket below symoffset names no chain (musl would index
        // before the chains): count no further.
        if let Some(first) = nsym.checked_sub(symoffset).filter(|_| nsym != 0) {
            let chains = buckets + 4 * nbuckets;
            let mut left = (d.ghash_end.saturating_sub(chains) / 4).saturating_sub(first);
            let mut hashval = chains + 4 * first;
            while left > 0 {
                nsym += 1;
                left -= 1;
                let h = mem::read::<u32>(hashval);
                hashval += 4;
                if h & 1 != 0 {
                    break;
                }
            }
        }
        nsym
    }
}

/// `dladdr(3)`: the object holding `addr` and the nearest symbol at or below
/// it whose size covers it.
pub extern "C" fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int {
    let addr = addr as usize;
    let p = read_locked(|| addr2dso(addr));
    if p.is_null() {
        return 0;
    }
    // SAFETY: a live Dso.
    let d = unsafe { &*p };
    let mut best = 0usize;
    let mut best_sym = None;
    for i in 0..count_syms(d) {
        let sym = d.sym(i);
        if sym.st_value == 0 || (1u32 << sym.typ()) & OK_TYPES == 0 || (1u32 << sym.bind()) & OK_BINDS == 0 {
            continue;
        }
        let sym_addr = d.laddr(sym.st_value);
        if sym_addr > addr || sym_addr <= best {
            continue;
        }
        best = sym_addr;
        best_sym = Some(sym);
        if sym_addr == addr {
            break;
        }
    }
    // A symbol below the address that does not reach it is no answer.
    if let Some(sym) = best_sym {
        if addr - best > sym.st_size.wrapping_sub(1) {
            best_sym = None;
        }
    }
    // SAFETY: the caller's Dl_info.
    let info = unsafe { &mut *info };
    info.fname = d.name as *const c_char;
    info.fbase = d.map as *mut c_void;
    match best_sym {
        None => {
            info.sname = ptr::null();
            info.saddr = ptr::null_mut();
        }
        Some(sym) => {
            info.sname = d.string(sym.st_name as usize).as_ptr() as *const c_char;
            info.saddr = best as *mut c_void;
        }
    }
    1
}

/// `struct dl_phdr_info`.
#[repr(C)]
pub struct DlPhdrInfo {
    addr: usize,
    name: *const c_char,
    phdr: usize,
    phnum: u16,
    adds: u64,
    subs: u64,
    tls_modid: usize,
    tls_data: *mut c_void,
}

type PhdrCallback = extern "C" fn(*mut DlPhdrInfo, usize, *mut c_void) -> c_int;

/// `dl_iterate_phdr(3)`: every loaded object, in load order; stops at the
/// first non-zero return.
pub extern "C" fn dl_iterate_phdr(callback: PhdrCallback, data: *mut c_void) -> c_int {
    let mut current = head();
    while !current.is_null() {
        // SAFETY: a live Dso (objects are never unloaded).
        let d = unsafe { &*current };
        let tls_data = if d.tls_id == 0 {
            ptr::null_mut()
        } else {
            let v = [d.tls_id, 0];
            // SAFETY: {module, 0} of a loaded TLS module.
            unsafe { __tls_get_addr(v.as_ptr()) }
        };
        let mut info = DlPhdrInfo {
            addr: d.base,
            name: d.name as *const c_char,
            phdr: d.phdr,
            phnum: d.phnum as u16,
            adds: gencnt(),
            subs: 0,
            tls_modid: d.tls_id,
            tls_data,
        };
        let ret = callback(&mut info, core::mem::size_of::<DlPhdrInfo>(), data);
        if ret != 0 {
            return ret;
        }
        current = read_locked(|| d.next);
    }
    0
}
