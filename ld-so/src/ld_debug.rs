//! `LD_DEBUG=libs,statistics` (design.md §6): what the loader did, on
//! stderr, in glibc's shape (`<pid>:\t…`). Nothing here runs, and no system
//! call is made, unless the variable asks for it.
// The macro forwards C varargs (pointers and integers) inside its unsafe call, as `dl_error!`.
#![allow(clippy::macro_metavars_in_unsafe)]

use crate::heap;
use crate::musl::ffi;
use crate::state::{Diagnostics, Statistics};
use alloc::vec::Vec;
use core::ffi::c_int;
use stormless_search::DebugFlags;

/// One diagnostic line when `LD_DEBUG` includes `libs`. The format's
/// conversions are C's (the line goes through musl's `dprintf`).
#[macro_export]
macro_rules! debug_libs {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        if $crate::ld_debug::libs() {
            let pid = $crate::ld_debug::pid();
            // SAFETY: a NUL-terminated literal format; arguments match its conversions.
            unsafe { $crate::musl::ffi::dprintf(2, concat!("%10d:\t", $fmt, "\n\0").as_ptr().cast(), pid $(, $arg)*) };
        }
    };
}

const DIAGNOSTICS: &Diagnostics = &crate::state::LOADER.diagnostics;

/// `LD_DEBUG` includes `libs`.
#[inline(always)]
pub fn libs() -> bool {
    DIAGNOSTICS.flags.get().libs
}

/// `LD_DEBUG` includes `statistics`.
#[inline(always)]
pub fn statistics() -> bool {
    DIAGNOSTICS.flags.get().statistics
}

/// `name` and a NUL, to print with `%s` (in `LD_DEBUG` and `ldd` lines); None when there is no memory for it.
pub fn name_z(name: &[u8]) -> Option<Vec<u8>> {
    heap::copy_z(name).ok()
}

/// What a [`name_z`] result prints as: the name, or `?` when it could not be copied.
pub fn z_ptr(z: &Option<Vec<u8>>) -> *const u8 {
    z.as_ref().map_or(c"?".as_ptr().cast(), |v| v.as_ptr())
}

pub fn pid() -> c_int {
    extern "C" {
        fn getpid() -> c_int;
    }
    if DIAGNOSTICS.pid.get() == 0 {
        // SAFETY: a system call without arguments.
        DIAGNOSTICS.pid.set(unsafe { getpid() });
    }
    DIAGNOSTICS.pid.get()
}

/// Read `LD_DEBUG` (stage 3, after secure mode is known) and start the clock.
pub fn init(value: *const u8, secure: bool) {
    // SAFETY: getenv's result, NUL-terminated, or null.
    let bytes = (!value.is_null()).then(|| unsafe { crate::mem::cstr(value as usize) });
    let flags = DebugFlags::parse(bytes, secure);
    DIAGNOSTICS.flags.set(flags);
    if flags.unknown {
        let pid = pid();
        // SAFETY: literal format, C string argument.
        unsafe {
            ffi::dprintf(
                2,
                c"%10d:\tLD_DEBUG: \"%s\" names something unknown (known: libs, statistics, all)\n".as_ptr(),
                pid,
                value,
            )
        };
    }
    if flags.statistics {
        DIAGNOSTICS.stats.set(Statistics { start_us: now_us(), ..Statistics::ZERO });
    }
}

/// Count one attempt to open a file while searching.
pub fn count_open(fd: c_int) {
    if statistics() {
        let mut stats = DIAGNOSTICS.stats.get();
        stats.opens += 1;
        stats.failed_opens += (fd < 0) as usize;
        DIAGNOSTICS.stats.set(stats);
    }
}

fn now_us() -> u64 {
    extern "C" {
        // 32-bit arches: the time64 entry point, as musl's headers redirect it.
        #[cfg_attr(target_pointer_width = "32", link_name = "__clock_gettime64")]
        fn clock_gettime(clock: c_int, ts: *mut u8) -> c_int;
    }
    const CLOCK_MONOTONIC: c_int = 1;
    // struct timespec: 64-bit tv_sec, then tv_nsec in the next (little-endian) word.
    let mut ts = [0u8; 16];
    // SAFETY: the buffer is as large as musl's struct timespec on every arch here.
    if unsafe { clock_gettime(CLOCK_MONOTONIC, ts.as_mut_ptr()) } != 0 {
        return 0;
    }
    let sec = u64::from_le_bytes(ts[..8].try_into().unwrap_or_default());
    let nsec = u32::from_le_bytes(ts[8..12].try_into().unwrap_or_default()) as u64;
    sec * 1_000_000 + nsec / 1000
}

/// The `statistics` line, printed when startup hands over to the program
/// with `objects` loaded (the kernel's vDSO not counted).
pub fn report_startup(objects: usize) {
    if !statistics() {
        return;
    }
    let stats = DIAGNOSTICS.stats.get();
    let us = now_us().saturating_sub(stats.start_us);
    let pid = pid();
    // SAFETY: literal format; usize arguments for %zu, u64 for %llu.
    unsafe {
        ffi::dprintf(
            2,
            c"%10d:\tstatistics: %zu objects, %zu opens while searching (%zu failed), startup %llu us\n".as_ptr(),
            pid,
            objects,
            stats.opens,
            stats.failed_opens,
            us,
        )
    };
}
