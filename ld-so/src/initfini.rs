//! Constructors and destructors in musl's order: a dependency-first queue
//! (musl's `queue_ctors`, a DFS that ignores cycles), run under the init/fini
//! lock so concurrent `dlopen`s wait for each other (`do_init_fini`), and
//! destructors in reverse order of construction (`__libc_exit_fini`).
use crate::dso::Dso;
use crate::elf::*;
use crate::mem;
use crate::musl::probed as p;
use crate::ptrlist::PtrList;
use core::cell::UnsafeCell;
use core::ffi::c_int;

/// Storage for a musl pthread object, zero-initialised like a C static.
#[repr(C, align(8))]
pub struct PthreadObject<const N: usize>(UnsafeCell<[u8; N]>);
// SAFETY: only ever passed to musl's pthread functions, which synchronise it.
unsafe impl<const N: usize> Sync for PthreadObject<N> {}
impl<const N: usize> PthreadObject<N> {
    pub const fn new() -> Self {
        PthreadObject(UnsafeCell::new([0; N]))
    }
    pub fn get(&self) -> *mut u8 {
        self.0.get() as *mut u8
    }
}

pub static INIT_FINI_LOCK: PthreadObject<{ p::PTHREAD_MUTEX_T_SIZE }> = PthreadObject::new();
pub static CTOR_COND: PthreadObject<{ p::PTHREAD_COND_T_SIZE }> = PthreadObject::new();
pub static LOCK: PthreadObject<{ p::PTHREAD_RWLOCK_T_SIZE }> = PthreadObject::new();

extern "C" {
    fn pthread_mutex_lock(m: *mut u8) -> c_int;
    fn pthread_mutex_unlock(m: *mut u8) -> c_int;
    fn pthread_cond_wait(c: *mut u8, m: *mut u8) -> c_int;
    fn pthread_cond_broadcast(c: *mut u8) -> c_int;
    pub fn pthread_rwlock_wrlock(l: *mut u8) -> c_int;
    pub fn pthread_rwlock_unlock(l: *mut u8) -> c_int;
}

/// A constructor queue; up to four objects inline (musl's `builtin_ctor_queue`).
pub type CtorQueue = PtrList<Dso, 4>;

const INIT_FINI: &crate::state::InitFini = &crate::state::LOADER.init_fini;

/// `exit` has begun (read under the dlopen lock).
pub fn shutting_down() -> bool {
    INIT_FINI.shutting_down.get()
}

/// Stage 3: queue the program's constructors, run by `__libc_start_init`.
#[link_section = ".text.startup.stormless"]
pub fn queue_main_ctors(st: &crate::state::State, app: *mut Dso) -> Result<(), crate::error::Abort> {
    // SAFETY: startup, single-threaded: the only reference to the queue.
    queue_ctors(st, app, unsafe { &mut *INIT_FINI.main_queue.get() })
}

/// musl's `queue_ctors`: `dso` and everything it depends on, dependencies
/// first, into `queue` (empty on entry; filled in place, not returned, so
/// that the list is not copied once more). An allocation failure is musl's:
/// a message, then the `dlopen` fails (at startup the process exits after
/// loading, as for other errors).
#[link_section = ".text.startup.stormless"]
pub fn queue_ctors(st: &crate::state::State, dso: *mut Dso, queue: &mut CtorQueue) -> Result<(), crate::error::Abort> {
    if st.ldd_mode {
        return Ok(());
    }
    // SAFETY: (the whole function) every pointer reached is a live Dso, and the
    // loader lock (or startup) keeps the graph still.
    unsafe {
        // The queue's size, counted first as musl does, so that it is
        // allocated once (or not at all, when it fits inline).
        let mut cnt = 0;
        if (*dso).bfs_built {
            for &d in (*dso).deps.iter() {
                (*d).mark = false;
                cnt += 1;
            }
            cnt += 1;
        } else {
            for q in crate::load::Objects::all() {
                (*q).mark = false;
                cnt += 1;
            }
        }
        // One buffer, as musl's: the output queue grows from the start, the
        // DFS stack from the end. They never meet: an object is on the
        // stack (the current path) or in the queue, never both, and every
        // one of them was counted in `cnt`.
        if queue.fill_new(cnt).is_err() {
            crate::error::allocating_ctor_queue();
            return crate::error::stop_at_runtime();
        }
        // Unchecked accesses: a bounds check is a branch per access, and
        // under qemu-user each ends a translated block. The invariants:
        // `spos` stays in 0..cnt (the stack only holds the current path,
        // at most every counted object once), `qpos` ≤ `spos` (above), and
        // `next_dep < ndeps_direct ≤ deps.len()`.
        let slots = queue.as_mut_ptr();
        let (mut qpos, mut spos) = (0, cnt - 1);
        *slots.add(spos) = dso;
        (*dso).next_dep = 0;
        (*dso).mark = true;
        while spos < cnt {
            let mut p = *slots.add(spos);
            spos += 1;
            while (*p).next_dep < (*p).ndeps_direct {
                let dep = *(*p).deps.as_ptr().add((*p).next_dep);
                if (*dep).mark {
                    (*p).next_dep += 1;
                } else {
                    spos -= 1;
                    *slots.add(spos) = p;
                    p = dep;
                    (*p).next_dep = 0;
                    (*p).mark = true;
                }
            }
            *slots.add(qpos) = p;
            qpos += 1;
        }
        queue.truncate(qpos);
        for &q in queue.iter() {
            (*q).mark = false;
        }
        Ok(())
    }
}

/// `p->constructed`, read under the init/fini lock (another thread's
/// `dlopen` may be running its constructors).
pub fn constructed(p: &Dso) -> bool {
    // SAFETY: musl's mutex API on the loader's lock.
    unsafe {
        pthread_mutex_lock(INIT_FINI_LOCK.get());
        let c = read(&p.constructed);
        pthread_mutex_unlock(INIT_FINI_LOCK.get());
        c
    }
}

/// A field another thread may have written under the init/fini lock.
fn read<T: Copy>(field: &T) -> T {
    // SAFETY: a valid reference; volatile so the read happens after pthread_cond_wait returns.
    unsafe { core::ptr::read_volatile(field) }
}

fn call(addr: usize) {
    // SAFETY: the address comes from DT_INIT/DT_INIT_ARRAY/DT_FINI*: a function of the object.
    let f: extern "C" fn() = unsafe { core::mem::transmute(addr) };
    f()
}

/// musl's `do_init_fini`.
#[link_section = ".text.startup.stormless"]
pub fn do_init_fini(queue: &[*mut Dso]) {
    let shared = &INIT_FINI;
    // SAFETY: musl's pthread API on our zero-initialised objects, and live Dsos.
    unsafe {
        let me = crate::musl::pthread_self();
        pthread_mutex_lock(INIT_FINI_LOCK.get());
        for &p in queue {
            // Other threads change these while pthread_cond_wait releases the lock.
            while (read(&(*p).ctor_visitor) != 0 && read(&(*p).ctor_visitor) != me) || shared.shutting_down.get() {
                pthread_cond_wait(CTOR_COND.get(), INIT_FINI_LOCK.get());
            }
            if (*p).ctor_visitor != 0 || (*p).constructed {
                continue;
            }
            (*p).ctor_visitor = me;
            let dy = (*p).decoded();
            if dy.has(DT_FINI) || dy.has(DT_FINI_ARRAY) {
                (*p).fini_next = shared.fini_head.get();
                shared.fini_head.set(p);
            }
            pthread_mutex_unlock(INIT_FINI_LOCK.get());
            if crate::arch::LEGACY_INIT_FINI && dy.has(DT_INIT) && dy.get(DT_INIT) != 0 {
                call((*p).laddr(dy.get(DT_INIT)));
            }
            if dy.has(DT_INIT_ARRAY) {
                let start = (*p).laddr(dy.get(DT_INIT_ARRAY));
                for i in 0..dy.get(DT_INIT_ARRAYSZ) / WORD {
                    call(mem::read::<usize>(start + i * WORD));
                }
            }
            pthread_mutex_lock(INIT_FINI_LOCK.get());
            (*p).ctor_visitor = 0;
            (*p).constructed = true;
            pthread_cond_broadcast(CTOR_COND.get());
        }
        pthread_mutex_unlock(INIT_FINI_LOCK.get());
    }
}

/// Called by `__libc_start_main` before `main`: run the startup queue.
#[link_section = ".text.startup.stormless"]
pub extern "C" fn libc_start_init() {
    // Run in place, then emptied (freeing a heap queue): moving the list out
    // first would copy it with vector moves, costly to translate under qemu-user.
    // SAFETY: before `main`, single-threaded: the only reference to the queue.
    let queue = unsafe { &mut *INIT_FINI.main_queue.get() };
    do_init_fini(queue);
    queue.clear();
}

/// Called by `exit`: destructors, most recently constructed first.
#[link_section = ".text.startup.stormless"]
pub extern "C" fn libc_exit_fini() {
    // SAFETY: as in do_init_fini.
    unsafe {
        let me = crate::musl::pthread_self();
        pthread_rwlock_wrlock(LOCK.get());
        pthread_mutex_lock(INIT_FINI_LOCK.get());
        INIT_FINI.shutting_down.set(true);
        pthread_rwlock_unlock(LOCK.get());
        let mut p = INIT_FINI.fini_head.get();
        while !p.is_null() {
            while read(&(*p).ctor_visitor) != 0 && read(&(*p).ctor_visitor) != me {
                pthread_cond_wait(CTOR_COND.get(), INIT_FINI_LOCK.get());
            }
            if (*p).constructed {
                let dy = (*p).decoded();
                if dy.has(DT_FINI_ARRAY) {
                    let start = (*p).laddr(dy.get(DT_FINI_ARRAY));
                    let n = dy.get(DT_FINI_ARRAYSZ) / WORD;
                    for i in (0..n).rev() {
                        call(mem::read::<usize>(start + i * WORD));
                    }
                }
                if crate::arch::LEGACY_INIT_FINI && dy.has(DT_FINI) && dy.get(DT_FINI) != 0 {
                    call((*p).laddr(dy.get(DT_FINI)));
                }
            }
            p = (*p).fini_next;
        }
    }
}

/// fork() takes the loader's locks around the fork (musl's `__ldso_atfork`).
pub extern "C" fn ldso_atfork(who: c_int) {
    // SAFETY: musl's pthread API on our objects.
    unsafe {
        if who < 0 {
            pthread_rwlock_wrlock(LOCK.get());
            pthread_mutex_lock(INIT_FINI_LOCK.get());
        } else {
            pthread_mutex_unlock(INIT_FINI_LOCK.get());
            pthread_rwlock_unlock(LOCK.get());
        }
    }
}
