//! The loader's global state (musl's file-scope statics in dynlink.c).
//!
//! It is mutated during startup, single-threaded, and afterwards only under
//! musl's loader locks (`dlopen`'s rwlock and the init/fini mutex), exactly as
//! musl's own statics are. That discipline is what makes the `Cell`s below
//! (which are not `Sync`) sound to share; this module is the one place that
//! relies on it. No `&mut State` exists: every field is set through its cell
//! or, for the owned objects, through their raw pointers.
use crate::dso::Dso;
use crate::musl::TlsModule;
use core::cell::{Cell, UnsafeCell};
use core::ffi::{c_int, c_void};
use core::ptr;

/// `struct r_debug` as gdb reads it (musl's `struct debug`).
#[repr(C)]
pub struct Debug {
    pub ver: c_int,
    pub head: *mut c_void,
    pub bp: extern "C" fn(),
    pub state: c_int,
    pub base: *mut c_void,
}

/// The loader's statics. Plain values are `Cell`s and the three objects the
/// loader owns (itself, the program, the vDSO) sit in `UnsafeCell`s reached
/// through raw pointers, so that [`state`] hands out a shared reference and no
/// two parts of the loader ever hold `&mut State` at once.
pub struct State {
    ldso: UnsafeCell<Dso>,
    app: UnsafeCell<Dso>,
    vdso: UnsafeCell<Dso>,
    pub head: Cell<*mut Dso>,
    pub tail: Cell<*mut Dso>,
    pub syms_tail: Cell<*mut Dso>,
    pub fini_head: Cell<*mut Dso>,
    /// Objects with RTLD_LAZY relocations still waiting for a definition.
    pub lazy_head: Cell<*mut Dso>,
    /// Successful `dlopen` calls (`dl_iterate_phdr`'s `dlpi_adds`).
    pub gencnt: Cell<u64>,
    /// LD_LIBRARY_PATH (or --library-path), a C string address, 0 if unset.
    pub env_path: Cell<usize>,
    /// The system search path, read once from etc/ld-musl-<arch>.path.
    sys_path: UnsafeCell<Option<alloc::vec::Vec<u8>>>,
    pub runtime: Cell<bool>,
    /// What LD_DEBUG asks for, and the counters and pid its lines use.
    pub debug: Cell<stormless_search::DebugFlags>,
    pub debug_pid: Cell<c_int>,
    pub stats: Cell<crate::ld_debug::Statistics>,
    pub ldd_mode: Cell<bool>,
    /// Libc aliases already reported in ldd mode (one bit each).
    pub ldd_reported: Cell<u32>,
    pub ldso_fail: Cell<bool>,
    pub noload: Cell<bool>,
    pub shutting_down: Cell<bool>,
    pub tls_tail: Cell<*mut TlsModule>,
    pub tls_cnt: Cell<usize>,
    pub tls_offset: Cell<usize>,
    pub tls_align: Cell<usize>,
    pub static_tls_cnt: Cell<usize>,
    main_ctor_queue: UnsafeCell<crate::initfini::CtorQueue>,
    /// Stage 2 saves the inline addends of the loader's symbolic REL relocations
    /// here (stage 2's frame, which lives until the program exits), because
    /// applying them overwrites them and stage 3 applies them again.
    pub saved_addends: Cell<*mut usize>,
    pub apply_addends_to: Cell<usize>,
}

pub struct Global(State);

// SAFETY: see the module comment: access is serialized by musl's loader locks.
unsafe impl Sync for Global {}

pub static STATE: Global = Global(State {
    ldso: UnsafeCell::new(Dso::empty()),
    app: UnsafeCell::new(Dso::empty()),
    vdso: UnsafeCell::new(Dso::empty()),
    head: Cell::new(ptr::null_mut()),
    tail: Cell::new(ptr::null_mut()),
    syms_tail: Cell::new(ptr::null_mut()),
    fini_head: Cell::new(ptr::null_mut()),
    lazy_head: Cell::new(ptr::null_mut()),
    gencnt: Cell::new(0),
    env_path: Cell::new(0),
    sys_path: UnsafeCell::new(None),
    runtime: Cell::new(false),
    debug: Cell::new(stormless_search::DebugFlags::NONE),
    debug_pid: Cell::new(0),
    stats: Cell::new(crate::ld_debug::Statistics::ZERO),
    ldd_mode: Cell::new(false),
    ldd_reported: Cell::new(0),
    ldso_fail: Cell::new(false),
    noload: Cell::new(false),
    shutting_down: Cell::new(false),
    tls_tail: Cell::new(ptr::null_mut()),
    tls_cnt: Cell::new(0),
    tls_offset: Cell::new(0),
    tls_align: Cell::new(crate::tls::MIN_TLS_ALIGN),
    static_tls_cnt: Cell::new(0),
    main_ctor_queue: UnsafeCell::new(crate::ptrlist::PtrList::new()),
    saved_addends: Cell::new(ptr::null_mut()),
    apply_addends_to: Cell::new(0),
});

/// The loader state. Callers hold the startup or lock discipline above.
#[inline(always)]
pub fn state() -> &'static State {
    &STATE.0
}

/// `Cell::update` for the loader's counters and flags.
#[inline(always)]
pub fn update<T: Copy>(cell: &Cell<T>, f: impl FnOnce(&mut T)) {
    let mut v = cell.get();
    f(&mut v);
    cell.set(v);
}

/// The loader's own object (musl's `ldso`), an object of the list like any other.
#[inline(always)]
pub fn ldso_ptr() -> *mut Dso {
    state().ldso.get()
}

/// The main program's object (musl's `app`).
#[inline(always)]
pub fn app_ptr() -> *mut Dso {
    state().app.get()
}

/// The kernel's vDSO object.
#[inline(always)]
pub fn vdso_ptr() -> *mut Dso {
    state().vdso.get()
}

/// The constructor queue of the main program's start.
#[inline(always)]
pub fn main_ctor_queue() -> *mut crate::initfini::CtorQueue {
    state().main_ctor_queue.get()
}

/// The system search path: `read` the first time, then the same bytes.
pub fn sys_path(read: impl FnOnce() -> alloc::vec::Vec<u8>) -> &'static [u8] {
    let cell = state().sys_path.get();
    // SAFETY: written once, here, before any reference to it is handed out;
    // afterwards only read (the loader locks serialize the first call).
    unsafe {
        if (*cell).is_none() {
            *cell = Some(read());
        }
        (*cell).as_deref().unwrap_or_default()
    }
}

extern "C" fn dl_debug_state() {}

pub struct DebugCell(pub UnsafeCell<Debug>);
// SAFETY: written at startup and under the dlopen lock, read by debuggers.
unsafe impl Sync for DebugCell {}

pub static DEBUG: DebugCell = DebugCell(UnsafeCell::new(Debug {
    ver: 0,
    head: ptr::null_mut(),
    bp: dl_debug_state,
    state: 0,
    base: ptr::null_mut(),
}));

pub fn debug() -> &'static mut Debug {
    // SAFETY: as `state`.
    unsafe { &mut *DEBUG.0.get() }
}
