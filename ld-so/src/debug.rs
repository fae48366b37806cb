//! What debuggers and the rest of libc expect from the loader by symbol (the
//! C names are given in `contract.rs`).
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

pub struct DebugCell(UnsafeCell<Debug>);
// SAFETY: written at startup and under the dlopen lock, read by debuggers.
unsafe impl Sync for DebugCell {}

/// `r_debug`; `r_brk` is the exported `_dl_debug_state`, as musl's `debug.bp`.
static DEBUG: DebugCell = DebugCell(UnsafeCell::new(Debug {
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

/// gdb sets a breakpoint here and reads `_dl_debug_addr` when it hits.
#[inline(never)]
#[link_section = ".text.startup.stormless"]
pub extern "C" fn dl_debug_state() {
    core::hint::black_box(());
}

#[allow(dead_code)] // read by debuggers, through the `_dl_debug_addr` symbol
pub struct DebugAddr(pub *mut Debug);
// SAFETY: an address, never written after link time.
unsafe impl Sync for DebugAddr {}

/// `struct r_debug *_dl_debug_addr`.
pub static DL_DEBUG_ADDR: DebugAddr = DebugAddr(DEBUG.0.get());

/// In libc.so the loader installs the thread pointer; musl's static-linking
/// `__init_tls` must do nothing here.
#[link_section = ".text.startup.stormless"]
pub extern "C" fn init_tls(_auxv: *mut usize) {}
