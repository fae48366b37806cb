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
    pub head: *mut Dso,
    pub tail: *mut Dso,
    pub syms_tail: *mut Dso,
    /// Objects with RTLD_LAZY relocations still waiting for a definition.
    pub lazy_head: *mut Dso,
    /// Successful `dlopen` calls (`dl_iterate_phdr`'s `dlpi_adds`).
    pub gencnt: u64,
    /// LD_LIBRARY_PATH (or --library-path), a C string address, 0 if unset.
    pub env_path: usize,
    /// The system search path, read once from etc/ld-musl-<arch>.path.
    pub sys_path: Option<alloc::vec::Vec<u8>>,
    pub ldd_mode: bool,
    /// Libc aliases already reported in ldd mode (one bit each).
    pub ldd_reported: u32,
    pub noload: bool,
    pub tls_tail: *mut TlsModule,
    pub tls_cnt: usize,
    pub tls_offset: usize,
    pub tls_align: usize,
    pub static_tls_cnt: usize,
    /// Stage 2 saves the inline addends of the loader's symbolic REL relocations
    /// here (stage 2's frame, which lives until the program exits), because
    /// applying them overwrites them and stage 3 applies them again.
    pub saved_addends: *mut usize,
    pub apply_addends_to: usize,
}

/// Every piece of the loader's mutable state, in one static: one address
/// for the code to compute (on armv7 each static is a literal-pool load;
/// separate statics cost +0.8 % of qemu's instructions at startup). Each
/// piece is reached on its own terms: [`state`] for the object list and
/// search state, raw pointers for the three static objects, `Cell`s read
/// and written by value for the diagnostics, the startup phase and the
/// init/fini state.
pub struct Loader {
    state: UnsafeCell<State>,
    pub ldso: crate::dso::StaticObject,
    pub app: crate::dso::StaticObject,
    pub vdso: crate::dso::StaticObject,
    pub diagnostics: crate::ld_debug::Diagnostics,
    pub phase: crate::error::Phase,
    pub init_fini: crate::initfini::InitFini,
}

// SAFETY: every piece is accessed during startup, single-threaded, and
// afterwards under musl's loader locks (see each piece's `new`), as musl's
// own statics are.
unsafe impl Sync for Loader {}

pub static LOADER: Loader = Loader {
    state: UnsafeCell::new(STATE_INIT),
    ldso: crate::dso::StaticObject::new(),
    app: crate::dso::StaticObject::new(),
    vdso: crate::dso::StaticObject::new(),
    diagnostics: crate::ld_debug::Diagnostics::new(),
    phase: crate::error::Phase::new(),
    init_fini: crate::initfini::InitFini::new(),
};

const STATE_INIT: State = State {
    head: ptr::null_mut(),
    tail: ptr::null_mut(),
    syms_tail: ptr::null_mut(),
    lazy_head: ptr::null_mut(),
    gencnt: 0,
    env_path: 0,
    sys_path: None,
    ldd_mode: false,
    ldd_reported: 0,
    noload: false,
    tls_tail: ptr::null_mut(),
    tls_cnt: 0,
    tls_offset: 0,
    tls_align: crate::tls::MIN_TLS_ALIGN,
    static_tls_cnt: 0,
    saved_addends: ptr::null_mut(),
    apply_addends_to: 0,
};

/// The loader state. Callers hold the startup or lock discipline above.
#[allow(clippy::mut_from_ref)]
pub fn state() -> &'static mut State {
    // SAFETY: see the module comment.
    unsafe { &mut *LOADER.state.get() }
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

/// `r_debug`, which debuggers read from outside the process: written field by
/// field through its address (startup, and `dlopen` under its lock), never
/// through a reference held across calls.
pub fn debug_ptr() -> *mut Debug {
    DEBUG.0.get()
}
