//! The loader's global state (musl's file-scope statics in dynlink.c).
//!
//! It is mutated during startup, single-threaded, and afterwards only under
//! musl's loader locks (`dlopen`'s rwlock and the init/fini mutex), exactly as
//! musl's own statics are. That discipline is what makes handing out `&mut`
//! from [`state`] sound; this module is the one place that relies on it.
use crate::dso::Dso;
use crate::musl::TlsModule;
use core::cell::UnsafeCell;
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

pub struct State {
    pub ldso: Dso,
    pub app: Dso,
    pub vdso: Dso,
    pub head: *mut Dso,
    pub tail: *mut Dso,
    pub syms_tail: *mut Dso,
    pub fini_head: *mut Dso,
    /// Objects with RTLD_LAZY relocations still waiting for a definition.
    pub lazy_head: *mut Dso,
    /// Successful `dlopen` calls (`dl_iterate_phdr`'s `dlpi_adds`).
    pub gencnt: u64,
    /// LD_LIBRARY_PATH (or --library-path), a C string address, 0 if unset.
    pub env_path: usize,
    /// The system search path, read once from etc/ld-musl-<arch>.path.
    pub sys_path: Option<alloc::vec::Vec<u8>>,
    pub runtime: bool,
    /// What LD_DEBUG asks for, and the counters and pid its lines use.
    pub debug: stormless_search::DebugFlags,
    pub debug_pid: c_int,
    pub stats: crate::ld_debug::Statistics,
    pub ldd_mode: bool,
    /// Libc aliases already reported in ldd mode (one bit each).
    pub ldd_reported: u32,
    pub ldso_fail: bool,
    pub noload: bool,
    pub shutting_down: bool,
    pub tls_tail: *mut TlsModule,
    pub tls_cnt: usize,
    pub tls_offset: usize,
    pub tls_align: usize,
    pub static_tls_cnt: usize,
    pub main_ctor_queue: crate::initfini::CtorQueue,
    /// Stage 2 saves the inline addends of the loader's symbolic REL relocations
    /// here (stage 2's frame, which lives until the program exits), because
    /// applying them overwrites them and stage 3 applies them again.
    pub saved_addends: *mut usize,
    pub apply_addends_to: usize,
}

pub struct Global(UnsafeCell<State>);

// SAFETY: see the module comment: access is serialized by musl's loader locks.
unsafe impl Sync for Global {}

pub static STATE: Global = Global(UnsafeCell::new(State {
    ldso: Dso::empty(),
    app: Dso::empty(),
    vdso: Dso::empty(),
    head: ptr::null_mut(),
    tail: ptr::null_mut(),
    syms_tail: ptr::null_mut(),
    fini_head: ptr::null_mut(),
    lazy_head: ptr::null_mut(),
    gencnt: 0,
    env_path: 0,
    sys_path: None,
    runtime: false,
    debug: stormless_search::DebugFlags::NONE,
    debug_pid: 0,
    stats: crate::ld_debug::Statistics::ZERO,
    ldd_mode: false,
    ldd_reported: 0,
    ldso_fail: false,
    noload: false,
    shutting_down: false,
    tls_tail: ptr::null_mut(),
    tls_cnt: 0,
    tls_offset: 0,
    tls_align: crate::tls::MIN_TLS_ALIGN,
    static_tls_cnt: 0,
    main_ctor_queue: crate::ptrlist::PtrList::new(),
    saved_addends: ptr::null_mut(),
    apply_addends_to: 0,
}));

/// The loader state. Callers hold the startup or lock discipline above.
#[allow(clippy::mut_from_ref)]
pub fn state() -> &'static mut State {
    // SAFETY: see the module comment.
    unsafe { &mut *STATE.0.get() }
}

pub fn ldso_ptr() -> *mut Dso {
    ptr::addr_of_mut!(state().ldso)
}

pub fn app_ptr() -> *mut Dso {
    ptr::addr_of_mut!(state().app)
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
