//! What debuggers and the rest of libc expect from the loader by symbol (the
//! C names are given in `contract.rs`).
use crate::state::{Debug, DEBUG};

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
