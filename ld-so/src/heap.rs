//! Allocation that may fail. musl's loader checks every `malloc` it makes
//! after startup: `dlopen` then fails with ENOMEM, and `dlerror` says
//! "Error loading shared library …: Out of memory". Rust's `Box::new` and a
//! growing `Vec` call the allocation error handler instead, which ends in the
//! panic handler's trap: the whole process dies. So every allocation on the
//! `dlopen` path goes through here (or through `try_reserve*`), and its caller
//! reports the failure as musl does.
use alloc::alloc::{alloc, Layout};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// The heap could not provide the memory.
#[derive(Debug)]
pub struct OutOfMemory;

/// `value` in a box of its own, or `value` back when there is no memory for
/// it (so the caller can undo what it holds).
pub fn boxed<T>(value: T) -> Result<Box<T>, T> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value));
    }
    // SAFETY: a layout of non-zero size; the result is checked before use.
    let raw = unsafe { alloc(layout) } as *mut T;
    if raw.is_null() {
        return Err(value);
    }
    // SAFETY: `raw` is a fresh allocation with `T`'s layout, initialised here,
    // and the global allocator's, as `Box` requires.
    unsafe {
        raw.write(value);
        Ok(Box::from_raw(raw))
    }
}

/// `bytes` and a NUL, in one allocation of exactly that size.
pub fn copy_z(bytes: &[u8]) -> Result<Vec<u8>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes.len() + 1).map_err(|_| OutOfMemory)?;
    v.extend_from_slice(bytes);
    v.push(0);
    Ok(v)
}

/// Make `v` hold `bytes` (and nothing else).
pub fn copy_into(v: &mut Vec<u8>, bytes: &[u8]) -> Result<(), OutOfMemory> {
    v.clear();
    v.try_reserve_exact(bytes.len()).map_err(|_| OutOfMemory)?;
    v.extend_from_slice(bytes);
    Ok(())
}

/// `v` with room for `additional` more entries, so that as many pushes cannot
/// reallocate.
pub fn reserve<T>(v: &mut Vec<T>, additional: usize) -> Result<(), OutOfMemory> {
    v.try_reserve(additional).map_err(|_| OutOfMemory)
}
