//! `dlopen`, musl's, made transactional with `Result` instead of `setjmp`:
//! every step that can fail after something was loaded returns
//! `Err(Abort)`, and [`Checkpoint::roll_back`] then removes everything the
//! call added, so the process goes on as if it had never been made.
use crate::debug::debug_ptr;
use crate::dso::Dso;
use crate::elf::*;
use crate::error::{self, Abort};
use crate::initfini::{self, LOCK};
use crate::load;
use crate::musl::{ffi, libc, TlsModule};
use crate::newtls;
use crate::reloc;
use crate::start::add_syms;
use crate::state::{head, State};
use crate::tls;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_void};
use core::ptr;

pub const RTLD_LAZY: c_int = 1;
pub const RTLD_NOLOAD: c_int = 4;
pub const RTLD_GLOBAL: c_int = 256;

/// `r_debug.r_state` values gdb watches.
const RT_CONSISTENT: c_int = 0;
const RT_ADD: c_int = 1;
const PTHREAD_CANCEL_DISABLE: c_int = 1;

extern "C" {
    fn pthread_setcancelstate(new: c_int, old: *mut c_int) -> c_int;
    /// Keep `pthread_create` out while threads are counted and their TLS grows.
    fn __inhibit_ptc();
    fn __release_ptc();
}

/// The loader state a failed `dlopen` restores (musl's `orig_*` locals).
struct Checkpoint {
    tail: *mut Dso,
    syms_tail: *mut Dso,
    lazy_head: *mut Dso,
    tls_tail: *mut TlsModule,
    tls_cnt: usize,
    tls_offset: usize,
    tls_align: usize,
}

impl Checkpoint {
    fn take(st: &State) -> Checkpoint {
        Checkpoint {
            tail: st.tail,
            syms_tail: st.syms_tail,
            lazy_head: st.lazy_head,
            tls_tail: st.tls_tail,
            tls_cnt: st.tls_cnt,
            tls_offset: st.tls_offset,
            tls_align: st.tls_align,
        }
    }

    /// Unload every object loaded since the checkpoint and restore the rest.
    fn roll_back(&self, st: &mut State) {
        revert_syms(st, self.syms_tail);
        // SAFETY: the objects after the checkpoint's tail were loaded by this
        // call (Box-allocated by load_library) and nothing else refers to them
        // yet: constructors have not run and no handle was returned.
        unsafe {
            let mut p = (*self.tail).next;
            while !p.is_null() {
                let next = (*p).next;
                load::unmap(&mut *p);
                load::free_owned_name((*p).name);
                drop(Box::from_raw(p));
                p = next;
            }
            if self.tls_tail.is_null() {
                libc::set_tls_head(ptr::null_mut());
            } else {
                (*self.tls_tail).next = ptr::null_mut();
            }
            (*self.tail).next = ptr::null_mut();
        }
        st.tls_tail = self.tls_tail;
        st.tls_cnt = self.tls_cnt;
        st.tls_offset = self.tls_offset;
        st.tls_align = self.tls_align;
        st.lazy_head = self.lazy_head;
        st.tail = self.tail;
    }
}

/// musl's `revert_syms`: objects after `old_tail` leave the global scope.
fn revert_syms(st: &mut State, old_tail: *mut Dso) {
    let mut p = old_tail;
    // SAFETY: the syms_next chain links live Dsos.
    unsafe {
        while !p.is_null() {
            let next = (*p).syms_next;
            (*p).syms_next = ptr::null_mut();
            p = next;
        }
    }
    st.syms_tail = old_tail;
}

/// `dlopen(3)`.
pub extern "C" fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void {
    if file.is_null() {
        return head() as *mut c_void;
    }
    let mut cancel_state = 0;
    // SAFETY: musl's pthread API; LOCK is the loader's rwlock.
    unsafe {
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut cancel_state);
        initfini::pthread_rwlock_wrlock(LOCK.get());
        __inhibit_ptc();
    }
    set_debug_state(RT_ADD);
    // SAFETY: an entry point, under the dlopen lock (taken above); the borrow
    // ends before the constructors run (below), which may enter again.
    let st = unsafe { crate::state::at_entry() };

    let mut ctor_queue = None;
    let mut p = ptr::null_mut();
    if initfini::shutting_down() {
        error::dlopen_while_exiting();
    } else {
        let checkpoint = Checkpoint::take(st);
        st.noload = mode & RTLD_NOLOAD != 0;
        match load_and_commit(st, file, mode, &checkpoint, &mut ctor_queue) {
            Ok(q) => p = q,
            Err(Abort) => {
                checkpoint.roll_back(st);
                ctor_queue = None;
            }
        }
    }

    set_debug_state(RT_CONSISTENT);
    // SAFETY: as above.
    unsafe { __release_ptc() };
    if !p.is_null() {
        crate::state::count_dlopen();
    }
    // SAFETY: as above.
    unsafe { initfini::pthread_rwlock_unlock(LOCK.get()) };
    // Constructors run outside the lock, so they may call dlopen themselves.
    if let Some(queue) = ctor_queue {
        initfini::do_init_fini(&queue);
    }
    // SAFETY: restores the caller's cancellation state.
    unsafe { pthread_setcancelstate(cancel_state, ptr::null_mut()) };
    p as *mut c_void
}

fn set_debug_state(s: c_int) {
    // SAFETY: r_debug is a live static, written under the dlopen lock.
    unsafe { (*debug_ptr()).state = s };
    crate::debug::dl_debug_state();
}

/// Everything between loading and committing; any Err leaves the rollback
/// to the caller.
fn load_and_commit(
    st: &mut State,
    file: *const c_char,
    mode: c_int,
    checkpoint: &Checkpoint,
    ctor_queue: &mut Option<initfini::CtorQueue>,
) -> Result<*mut Dso, Abort> {
    // SAFETY: `file` is the caller's NUL-terminated string.
    let name = unsafe { crate::mem::cstr(file as usize) };
    let p = load::load_library(st, name, head());
    if p.is_null() {
        if st.noload {
            error::not_already_loaded(file);
        } else {
            error::loading_library(file);
        }
        return Ok(ptr::null_mut());
    }
    load::load_deps(st, p)?;
    load::extend_bfs_deps(p)?;
    // SAFETY: `p` and its deps are live Dsos; the lock serialises loaders.
    let d = unsafe { &mut *p };
    if !initfini::constructed(d) {
        let mut queue = initfini::CtorQueue::new();
        initfini::queue_ctors(st, p, &mut queue)?;
        *ctor_queue = Some(queue);
    }
    // By index through `p`, each time: prepare_lazy and add_syms write
    // other fields of the objects, never `p`'s dependency list.
    let ndeps = d.deps.len();
    // SAFETY: i < ndeps, the list's unchanged length.
    let dep_at = |i: usize| unsafe { (&(*p).deps)[i] };
    if !d.relocated && mode & RTLD_LAZY != 0 {
        prepare_lazy(st, p)?;
        for dep in (0..ndeps).map(dep_at) {
            // SAFETY: as above.
            if !unsafe { (*dep).relocated } {
                prepare_lazy(st, dep)?;
            }
        }
    }
    if !d.relocated || mode & RTLD_GLOBAL != 0 {
        // Global at least while relocating; reverted below unless RTLD_GLOBAL.
        add_syms(st, p);
        (0..ndeps).map(dep_at).for_each(|dep| add_syms(st, dep));
    }
    if !d.relocated {
        reloc::reloc_all(st, load::Objects::from(p))?;
    }
    if mode & RTLD_GLOBAL == 0 {
        revert_syms(st, checkpoint.syms_tail);
    }
    // Only now that the new objects are committed: a deferred relocation
    // must never bind to a definition a rollback would remove.
    redo_lazy_relocs(st);
    tls::update_size(st);
    if st.tls_cnt != checkpoint.tls_cnt {
        newtls::install(st);
    }
    Ok(p)
}

/// musl's `prepare_lazy`: unless the object asks for immediate binding, let
/// its PLT and GOT relocations against missing symbols wait for a later
/// `dlopen` to define them.
fn prepare_lazy(st: &mut State, p: *mut Dso) -> Result<(), Abort> {
    // SAFETY: a live Dso.
    let d = unsafe { &mut *p };
    let dy = d.decoded();
    let flags1 = d.dynamic().find(DT_FLAGS_1).unwrap_or(0);
    if dy.has(DT_BIND_NOW) || dy.get(DT_FLAGS) & DF_BIND_NOW != 0 || flags1 & DF_1_NOW != 0 {
        return Ok(());
    }
    // Room for every relocation of the object, so pushes never reallocate.
    let entries = dy.get(DT_RELSZ) / (2 * WORD) + dy.get(DT_RELASZ) / (3 * WORD) + dy.get(DT_PLTRELSZ) / (2 * WORD);
    let mut lazy = Vec::new();
    let room = lazy.try_reserve_exact(entries + 1);
    let Some(x) = d.dl().filter(|_| room.is_ok()) else {
        ffi::set_errno(12); // ENOMEM, for %m
        error::preparing_lazy(d.name);
        return Err(Abort);
    };
    x.lazy = Some(lazy);
    x.lazy_next = st.lazy_head;
    st.lazy_head = p;
    Ok(())
}

/// musl's `redo_lazy_relocs`: retry each waiting relocation against the
/// global scope as it is now.
fn redo_lazy_relocs(st: &mut State) {
    let mut p = st.lazy_head;
    st.lazy_head = ptr::null_mut();
    while !p.is_null() {
        // SAFETY: the lazy list links live Dsos.
        let d = unsafe { &mut *p };
        // Only objects with extras are on the lazy list.
        let Some(x) = d.dl.as_deref_mut() else { break };
        let next = x.lazy_next;
        let waiting = x.lazy.take().unwrap_or_default();
        let mut still_waiting = Vec::new();
        if still_waiting.try_reserve_exact(waiting.len()).is_ok() {
            x.lazy = Some(still_waiting);
            // Entries are RELA-shaped (offset, info, addend); what is still
            // missing goes back on the object's list, so nothing can fail here.
            let _ = reloc::do_relocs::<3>(st, p, waiting.as_ptr() as usize, waiting.len() * 3 * WORD);
        } else {
            // No room to sort them now: all of them wait for the next dlopen.
            x.lazy = Some(waiting);
        }
        let Some(x) = d.dl.as_deref_mut() else { break };
        if x.lazy.as_ref().is_some_and(|l| !l.is_empty()) {
            x.lazy_next = st.lazy_head;
            st.lazy_head = p;
        } else {
            x.lazy = None;
            x.lazy_next = ptr::null_mut();
        }
        p = next;
    }
}
