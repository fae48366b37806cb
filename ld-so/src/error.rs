//! musl's `error()`: before the program runs, print the message on stderr and
//! remember that startup failed (exit 127 once every error is reported); at
//! run time, set the `dlerror()` text. The formats are musl's own, handed to
//! musl's printf, so `%m` and friends behave identically.
// The macro forwards C varargs (pointers and integers) inside its unsafe call.
#![allow(clippy::macro_metavars_in_unsafe)]

use crate::musl::ffi;
use crate::state::Phase;
use core::ffi::c_char;

const PHASE: &Phase = &crate::state::LOADER.phase;

/// The program runs: errors fail a `dlopen` instead of startup.
#[inline(always)]
pub fn at_runtime() -> bool {
    PHASE.runtime.get()
}

/// Startup is over (stage 3, just before the program's entry point).
pub fn enter_runtime() {
    PHASE.runtime.set(true);
}

/// Remember that startup reported an error.
pub fn startup_fails() {
    PHASE.startup_failed.set(true);
}

/// Startup reported an error: exit 127 once loading is done.
pub fn startup_failed() -> bool {
    PHASE.startup_failed.get()
}

/// Report `$fmt` with C arguments the way musl's loader does.
#[macro_export]
macro_rules! dl_error {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        // SAFETY: the format is a NUL-terminated literal; every argument matches its conversion.
        unsafe {
            if !$crate::error::at_runtime() {
                $crate::musl::ffi::dprintf(2, concat!($fmt, "\n\0").as_ptr().cast() $(, $arg)*);
                $crate::error::startup_fails();
            } else {
                $crate::musl::ffi::__dl_seterr(concat!($fmt, "\0").as_ptr().cast() $(, $arg)*);
            }
        }
    }};
}

fn c(p: *const u8) -> *const c_char {
    p.cast()
}

/// A `dlopen` in progress must be rolled back: what musl does with
/// `longjmp(*rtld_fail, 1)`. The message is already in `dlerror()`.
#[derive(Debug)]
pub struct Abort;

/// After an error: at run time (inside `dlopen`) stop and roll back; during
/// startup go on, so that every error is reported before exiting with 127.
pub fn stop_at_runtime() -> Result<(), Abort> {
    if at_runtime() {
        Err(Abort)
    } else {
        Ok(())
    }
}

pub fn relocating_symbol_not_found(dso: *const u8, name: &[u8]) {
    dl_error!("Error relocating %s: %s: symbol not found", c(dso), c(name.as_ptr()));
}

pub fn initial_exec_to_dynamic(dso: *const u8, name: &[u8], def: *const u8) {
    dl_error!(
        "Error relocating %s: %s: initial-exec TLS resolves to dynamic definition in %s",
        c(dso),
        c(name.as_ptr()),
        c(def)
    );
}

pub fn tlsdesc_alloc(dso: *const u8, name: &[u8]) {
    dl_error!("Error relocating %s: cannot allocate TLSDESC for %s", c(dso), c(name.as_ptr()));
}

pub fn unsupported_relocation(dso: *const u8, kind: u32) {
    dl_error!("Error relocating %s: unsupported relocation type %d", c(dso), kind as core::ffi::c_int);
}

/// A relocation (or RELR entry) that would write outside the object's writable
/// segments: reported, then [`stop_at_runtime`]. Out of line and cold: the
/// relocation loop only tests and calls.
#[cold]
#[inline(never)]
pub fn relocation_outside(dso: *const u8, offset: usize) -> Result<(), Abort> {
    dl_error!("Error relocating %s: relocation at %#zx outside the writable segments", c(dso), offset);
    stop_at_runtime()
}

/// A copy relocation whose symbol's bytes do not lie inside the defining
/// object's mapping: reported, then [`stop_at_runtime`].
#[cold]
#[inline(never)]
pub fn copy_outside(dso: *const u8, name: &[u8]) -> Result<(), Abort> {
    dl_error!("Error relocating %s: %s: copy source outside its object", c(dso), c(name.as_ptr()));
    stop_at_runtime()
}

pub fn relro_failed(dso: *const u8) {
    dl_error!("Error relocating %s: RELRO protection failed: %m", c(dso));
}

pub fn loading_dependency(name: *const u8, needed_by: *const u8) {
    dl_error!("Error loading shared library %s: %m (needed by %s)", c(name), c(needed_by));
}

pub fn loading_dependencies(dso: *const u8) {
    dl_error!("Error loading dependencies for %s", c(dso));
}

pub fn recording_dependencies(dso: *const u8) {
    dl_error!("Error recording dependencies for %s", c(dso));
}

pub fn allocating_ctor_queue() {
    dl_error!("Error allocating constructor queue: %m");
}

pub fn preparing_lazy(dso: *const u8) {
    dl_error!("Error preparing lazy relocation for %s: %m", c(dso));
}

pub fn dlopen_while_exiting() {
    dl_error!("Cannot dlopen while program is exiting.");
}

pub fn not_already_loaded(file: *const c_char) {
    dl_error!("Library %s is not already loaded", file);
}

pub fn loading_library(file: *const c_char) {
    dl_error!("Error loading shared library %s: %m", file);
}

pub fn invalid_handle(handle: *const core::ffi::c_void) {
    dl_error!("Invalid library handle %p", handle);
}

pub fn symbol_not_found(name: *const c_char) {
    dl_error!("Symbol not found: %s", name);
}

/// Used before anything else is possible: stop the process.
pub fn crash() -> ! {
    crate::arch::trap()
}

pub fn exit(status: i32) -> ! {
    // SAFETY: ends the process.
    unsafe { ffi::_exit(status) }
}
