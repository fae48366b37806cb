//! Raw memory of mapped objects: the only place (besides `arch` and stage 1)
//! that dereferences addresses. Everything the loader reads from an ELF image
//! in memory goes through these functions.

/// # Safety
/// `addr` must be valid for reading a `T` (any alignment).
#[inline(always)]
pub unsafe fn read<T: Copy>(addr: usize) -> T {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::read_unaligned(addr as *const T) }
}

/// # Safety
/// `addr` must be valid for writing a `T` (any alignment).
#[inline(always)]
pub unsafe fn write<T: Copy>(addr: usize, value: T) {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::write_unaligned(addr as *mut T, value) }
}

/// The NUL-terminated string at `addr`, without its NUL.
///
/// # Safety
/// `addr` must point to a NUL-terminated string that stays mapped.
pub unsafe fn cstr(addr: usize) -> &'static [u8] {
    let mut len = 0;
    // SAFETY: the caller guarantees a terminator within the mapping.
    unsafe {
        while read::<u8>(addr + len) != 0 {
            len += 1;
        }
        core::slice::from_raw_parts(addr as *const u8, len)
    }
}

/// The `len` bytes at `addr`.
///
/// # Safety
/// `addr..addr + len` must be mapped and readable, and stay so.
pub unsafe fn bytes(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: the caller guarantees the range is mapped.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

/// Copy `len` bytes.
///
/// # Safety
/// Both ranges must be valid and not overlap.
pub unsafe fn copy(dst: usize, src: usize, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, len) }
}

/// Zero `len` bytes.
///
/// # Safety
/// The range must be writable.
pub unsafe fn zero(dst: usize, len: usize) {
    // SAFETY: forwarded contract.
    unsafe { core::ptr::write_bytes(dst as *mut u8, 0, len) }
}
