//! Names of loaded objects: the owned, NUL-terminated copy each `Dso` keeps
//! and its short name (what a search matches).
use crate::heap;
use crate::mem;
use alloc::boxed::Box;

/// A loaded object's name: the bytes and a NUL in one exact allocation (a
/// growing vector would take more heap, and at times one more mmap, than
/// musl's). [`free_owned_name`] gives it back when a `dlopen` is rolled back.
pub fn owned_name(bytes: &[u8]) -> Option<*const u8> {
    let v = heap::copy_z(bytes).ok()?;
    Some(Box::into_raw(v.into_boxed_slice()) as *const u8)
}

/// Free a name [`owned_name`] made.
///
/// # Safety
/// `name` came from `owned_name` and nothing refers to it any more.
pub unsafe fn free_owned_name(name: *const u8) {
    // SAFETY: the caller's contract; the length is the string's plus its NUL.
    unsafe {
        let len = mem::cstr(name as usize).len() + 1;
        drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(name as *mut u8, len)));
    }
}

/// The file name part of a NUL-terminated pathname, pointing into it: the
/// name later searches match against (musl's `shortname`).
pub fn short_name(name: *const u8) -> *const u8 {
    // SAFETY: name is a NUL-terminated path; the short name points into it.
    let s = unsafe { mem::cstr(name as usize) };
    match s.iter().rposition(|&b| b == b'/') {
        // SAFETY: i + 1 <= the name's length: at most its NUL.
        Some(i) => unsafe { name.add(i + 1) },
        None => name,
    }
}
