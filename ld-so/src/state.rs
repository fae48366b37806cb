//! The loader's global state (musl's file-scope statics in dynlink.c).
//!
//! It is mutated during startup, single-threaded, and afterwards only under
//! musl's loader locks (`dlopen`'s rwlock and the init/fini mutex), exactly as
//! musl's own statics are.
//!
//! [`State`] is borrowed once per C entry point ([`at_entry`]) and passed
//! down as `&mut State` (or `&State`): no function below an entry point takes
//! a second borrow, so two `&mut` never overlap. What code must read without
//! that borrow lives beside it as `Cell`s read and written by value: the head
//! of the object list and `dlopen`'s count ([`head`], [`gencnt`]), `LD_DEBUG`'s
//! state, the startup phase, the init/fini state; the three static objects
//! are reached by raw pointer only, as every object on the list.
use crate::dso::Dso;
use crate::musl::TlsModule;
use crate::ptrlist::PtrList;
use core::cell::{Cell, UnsafeCell};
use core::ffi::c_int;
use core::ptr;
use stormless_search::DebugFlags;

pub struct State {
    pub tail: *mut Dso,
    pub syms_tail: *mut Dso,
    /// Objects with RTLD_LAZY relocations still waiting for a definition.
    pub lazy_head: *mut Dso,
    /// LD_LIBRARY_PATH (or --library-path), a C string address, 0 if unset.
    pub env_path: usize,
    /// The system search path, read once from etc/ld-musl-<arch>.path and kept
    /// for the life of the process.
    pub sys_path: Option<&'static [u8]>,
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

// The pieces beside `State`, each read and written by value or by raw
// pointer. Their logic lives in the modules that use them (error, ld_debug,
// initfini), which sit above this one; the types are here so that `state`
// imports none of those modules (docs/loader.md, "Layers").

/// An object the loader does not allocate (musl's static `ldso`, `app` and
/// `vdso`). Like every object on the list it is reached only through its raw
/// pointer, never through a reference stored in other loader state, so no
/// borrow of that state overlaps it. Written during startup
/// (single-threaded) and afterwards under the dlopen lock.
pub struct StaticObject(UnsafeCell<Dso>);

impl StaticObject {
    pub const fn new() -> StaticObject {
        StaticObject(UnsafeCell::new(Dso::empty()))
    }
}

/// Whether the program runs yet (`dlopen`'s errors go to `dlerror()`), and
/// whether startup reported an error (exit 127 after loading). A `Cell`
/// each: no reference into them is handed out.
pub struct Phase {
    pub runtime: Cell<bool>,
    pub startup_failed: Cell<bool>,
}

impl Phase {
    /// Written only during startup, single-threaded; read-only afterwards.
    pub const fn new() -> Phase {
        Phase { runtime: Cell::new(false), startup_failed: Cell::new(false) }
    }
}

/// What `LD_DEBUG` asked for, the pid its lines carry and its counters. Each
/// field is a `Cell`, read and written by value: no reference into it is
/// ever handed out, so no caller's borrow of other loader state can overlap it.
pub struct Diagnostics {
    pub flags: Cell<DebugFlags>,
    pub pid: Cell<c_int>,
    pub stats: Cell<Statistics>,
}

impl Diagnostics {
    /// Written by stage 3 (single-threaded) and afterwards only under the
    /// dlopen lock (the searches of `dlopen` count opens and print lines).
    pub const fn new() -> Diagnostics {
        Diagnostics { flags: Cell::new(DebugFlags::NONE), pid: Cell::new(0), stats: Cell::new(Statistics::ZERO) }
    }
}

/// Counters behind `LD_DEBUG=statistics`.
#[derive(Clone, Copy)]
pub struct Statistics {
    pub opens: usize,
    pub failed_opens: usize,
    /// CLOCK_MONOTONIC at the start of stage 3, in microseconds.
    pub start_us: u64,
}

impl Statistics {
    pub const ZERO: Statistics = Statistics { opens: 0, failed_opens: 0, start_us: 0 };
}

/// What constructors and destructors share across threads (musl's
/// `fini_head`, `shutting_down`, `main_ctor_queue`). Apart from the other
/// loader state: other threads' `dlopen`s run constructors outside the dlopen
/// lock, under the init/fini lock only. Fields are read and written by value
/// (no reference into them is handed out), the queue only during startup.
pub struct InitFini {
    /// Objects whose constructors ran and that have destructors, most recent first.
    pub fini_head: Cell<*mut Dso>,
    /// `exit` has begun: no more `dlopen`, no more constructors.
    pub shutting_down: Cell<bool>,
    /// The program's constructors, queued by stage 3, run by `__libc_start_init`.
    pub main_queue: UnsafeCell<PtrList<Dso, 4>>,
}

impl InitFini {
    /// `fini_head` is accessed under the init/fini lock; `shutting_down`
    /// written under both locks and read under either; the main queue only
    /// during startup, single-threaded (stage 3, then `__libc_start_init`
    /// before `main`).
    pub const fn new() -> InitFini {
        InitFini {
            fini_head: Cell::new(ptr::null_mut()),
            shutting_down: Cell::new(false),
            main_queue: UnsafeCell::new(PtrList::new()),
        }
    }
}

/// Every piece of the loader's mutable state, in one static: one address
/// for the code to compute (on armv7 each static is a literal-pool load;
/// separate statics cost +0.8 % of qemu's instructions at startup). Each
/// piece is reached on its own terms (see the module comment).
pub struct Loader {
    state: UnsafeCell<State>,
    /// The first object of the list (the program; the loader during stage 2).
    head: Cell<*mut Dso>,
    /// Successful `dlopen` calls (`dl_iterate_phdr`'s `dlpi_adds`).
    gencnt: Cell<u64>,
    pub ldso: StaticObject,
    pub app: StaticObject,
    pub vdso: StaticObject,
    pub diagnostics: Diagnostics,
    pub phase: Phase,
    pub init_fini: InitFini,
}

// SAFETY: every piece is accessed during startup, single-threaded, and
// afterwards under musl's loader locks (see each piece's `new`), as musl's
// own statics are.
unsafe impl Sync for Loader {}

pub static LOADER: Loader = Loader {
    state: UnsafeCell::new(STATE_INIT),
    head: Cell::new(ptr::null_mut()),
    gencnt: Cell::new(0),
    ldso: StaticObject::new(),
    app: StaticObject::new(),
    vdso: StaticObject::new(),
    diagnostics: Diagnostics::new(),
    phase: Phase::new(),
    init_fini: InitFini::new(),
};

const STATE_INIT: State = State {
    tail: ptr::null_mut(),
    syms_tail: ptr::null_mut(),
    lazy_head: ptr::null_mut(),
    env_path: 0,
    sys_path: None,
    ldd_mode: false,
    ldd_reported: 0,
    noload: false,
    tls_tail: ptr::null_mut(),
    tls_cnt: 0,
    tls_offset: 0,
    tls_align: crate::musl::MIN_TLS_ALIGN,
    static_tls_cnt: 0,
    saved_addends: ptr::null_mut(),
    apply_addends_to: 0,
};

/// The loader state, borrowed by a C entry point (or a stage of startup) and
/// passed down from there.
///
/// # Safety
/// Only at an entry point, under the startup or lock discipline above; the
/// borrow must end before the entry point calls out to code that may enter
/// the loader again (constructors, `dl_iterate_phdr`'s callback), and no
/// other borrow may be live.
#[allow(clippy::mut_from_ref)]
pub unsafe fn at_entry() -> &'static mut State {
    // SAFETY: the caller's contract.
    unsafe { &mut *LOADER.state.get() }
}

/// The first object of the list (null before stage 2 sets it).
#[inline(always)]
pub fn head() -> *mut Dso {
    LOADER.head.get()
}

/// The list's first object: the loader during stage 2, the program from stage 3 on.
pub fn set_head(p: *mut Dso) {
    LOADER.head.set(p);
}

/// The cell holding [`head`], for a walk that reads each link as it goes.
#[inline(always)]
pub fn head_link() -> *const *mut Dso {
    LOADER.head.as_ptr()
}

/// Successful `dlopen` calls so far.
pub fn gencnt() -> u64 {
    LOADER.gencnt.get()
}

/// One more successful `dlopen` (under its lock).
pub fn count_dlopen() {
    LOADER.gencnt.set(LOADER.gencnt.get() + 1);
}

/// The loader's own object (libc.so).
#[inline(always)]
pub fn ldso_ptr() -> *mut Dso {
    LOADER.ldso.0.get()
}

/// The program's object.
#[inline(always)]
pub fn app_ptr() -> *mut Dso {
    LOADER.app.0.get()
}

/// The kernel's vDSO, on the list only when the kernel maps one.
#[inline(always)]
pub fn vdso_ptr() -> *mut Dso {
    LOADER.vdso.0.get()
}
