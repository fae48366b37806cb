//! A list of objects that stays inline while short: musl's `builtin_deps` and
//! `builtin_ctor_queue`. musl starts a program that needs only libc without
//! calling `malloc` or `free` at all; a `Vec` for the main program's
//! dependencies and constructor queue would run malloc's code (file pages of
//! libc.so, and emulated code under qemu-user) and take heap pages that
//! startup otherwise never touches.
//!
//! Where the entries are is one pointer select, not an enum match: startup
//! reads these lists in its hottest loops, and under qemu-user every
//! conditional branch ends a translated block.
use alloc::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use core::ops::{Deref, DerefMut};
use core::ptr::null_mut;

pub use crate::heap::OutOfMemory;

pub struct PtrList<T, const N: usize> {
    len: usize,
    /// The entries when they do not fit inline; null while they do.
    heap: *mut *mut T,
    /// The entries while `heap` is null. Once on the heap, `inline[0]` holds
    /// the heap buffer's capacity (the list stays the size of musl's fields).
    inline: [*mut T; N],
}

impl<T, const N: usize> PtrList<T, N> {
    const HAS_INLINE_ROOM: () = assert!(N >= 1);

    pub const fn new() -> Self {
        let () = Self::HAS_INLINE_ROOM;
        PtrList { len: 0, heap: null_mut(), inline: [null_mut(); N] }
    }

    fn capacity(&self) -> usize {
        if self.heap.is_null() {
            N
        } else {
            self.inline[0] as usize
        }
    }

    fn base(&self) -> *mut *mut T {
        // A select, not a branch (see the module comment).
        if self.heap.is_null() {
            self.inline.as_ptr() as *mut _
        } else {
            self.heap
        }
    }

    /// Move the entries to a heap buffer of `cap` entries (≥ `len`).
    fn move_to_heap(&mut self, cap: usize) -> Result<(), OutOfMemory> {
        let layout = Layout::array::<*mut T>(cap).map_err(|_| OutOfMemory)?;
        // SAFETY: a non-zero size (cap > N ≥ 1 at every caller).
        let buf = unsafe { alloc(layout) } as *mut *mut T;
        if buf.is_null() {
            return Err(OutOfMemory);
        }
        // SAFETY: `len` ≤ both capacities; the buffers do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(self.base(), buf, self.len) };
        self.free_heap();
        self.heap = buf;
        self.inline[0] = cap as *mut T;
        Ok(())
    }

    fn free_heap(&mut self) {
        if !self.heap.is_null() {
            let cap = self.inline[0] as usize;
            // SAFETY: allocated by move_to_heap/fill_new with this layout.
            unsafe { dealloc(self.heap as *mut u8, Layout::array::<*mut T>(cap).unwrap_unchecked()) };
            self.heap = null_mut();
        }
    }

    /// Room for `additional` more entries: nothing while they fit, else one
    /// allocation of the exact size (musl's `calloc(cnt+1)`).
    pub fn try_reserve_exact(&mut self, additional: usize) -> Result<(), OutOfMemory> {
        let need = self.len.checked_add(additional).ok_or(OutOfMemory)?;
        if need <= self.capacity() {
            return Ok(());
        }
        self.move_to_heap(need)
    }

    /// Make a list that has never held a heap buffer (a new object's, a new
    /// queue) `len` null entries, to be filled by index: inline while they
    /// fit, else one zeroed allocation of the exact size (musl's
    /// `calloc(cnt)`). On failure the list stays empty. Not for a list with
    /// a heap buffer (startup's hot path skips that test): it would leak.
    pub fn fill_new(&mut self, len: usize) -> Result<(), OutOfMemory> {
        debug_assert!(self.heap.is_null());
        self.len = 0;
        if len <= N {
            self.inline = [null_mut(); N];
        } else {
            let layout = Layout::array::<*mut T>(len).map_err(|_| OutOfMemory)?;
            // SAFETY: a non-zero size.
            let buf = unsafe { alloc_zeroed(layout) } as *mut *mut T;
            if buf.is_null() {
                return Err(OutOfMemory);
            }
            self.heap = buf;
            self.inline[0] = len as *mut T;
        }
        self.len = len;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Keep the first `new_len` entries.
    pub fn truncate(&mut self, new_len: usize) {
        self.len = new_len.min(self.len);
    }

    /// Append within the room reserved by [`Self::try_reserve_exact`]; a push
    /// past it is a loader bug and stops the process.
    pub fn push(&mut self, p: *mut T) {
        if self.len == self.capacity() {
            crate::arch::trap();
        }
        // SAFETY: len < capacity.
        unsafe { self.base().add(self.len).write(p) };
        self.len += 1;
    }

    /// Empty the list and free its heap buffer, if any.
    pub fn clear(&mut self) {
        self.free_heap();
        self.len = 0;
    }
}

impl<T, const N: usize> Drop for PtrList<T, N> {
    fn drop(&mut self) {
        self.free_heap();
    }
}

impl<T, const N: usize> Deref for PtrList<T, N> {
    type Target = [*mut T];
    fn deref(&self) -> &[*mut T] {
        // SAFETY: `len` initialised entries at `base` (inline or heap).
        unsafe { core::slice::from_raw_parts(self.base(), self.len) }
    }
}

impl<T, const N: usize> DerefMut for PtrList<T, N> {
    fn deref_mut(&mut self) -> &mut [*mut T] {
        // SAFETY: as in deref; `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.base(), self.len) }
    }
}

impl<T, const N: usize> Default for PtrList<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize) -> *mut u8 {
        n as *mut u8
    }

    #[test]
    fn inline_then_heap() {
        let mut l: PtrList<u8, 2> = PtrList::new();
        l.try_reserve_exact(2).unwrap();
        assert!(l.heap.is_null());
        l.push(p(1));
        l.push(p(2));
        assert!(l.heap.is_null());
        assert_eq!(&*l, &[p(1), p(2)]);
        l.try_reserve_exact(1).unwrap();
        l.push(p(3));
        assert!(!l.heap.is_null());
        assert_eq!(l.capacity(), 3);
        assert_eq!(&*l, &[p(1), p(2), p(3)]);
        let mut m: PtrList<u8, 2> = PtrList::new();
        m.fill_new(1).unwrap();
        m[0] = p(7);
        m.try_reserve_exact(5).unwrap();
        assert_eq!(m.capacity(), 6);
        assert_eq!(&*m, &[p(7)]);
        m.clear();
        assert!(m.len() == 0 && m.heap.is_null());
    }

    #[test]
    fn filled_by_index_then_truncated() {
        let mut inline: PtrList<u8, 2> = PtrList::new();
        inline.fill_new(2).unwrap();
        assert!(inline.heap.is_null());
        inline[1] = p(5);
        inline.truncate(1);
        assert_eq!(&*inline, &[null_mut()]);
        let mut heap: PtrList<u8, 2> = PtrList::new();
        heap.fill_new(3).unwrap();
        assert_eq!(heap.capacity(), 3);
        heap[0] = p(1);
        heap[2] = p(3);
        heap.truncate(2);
        assert_eq!(&*heap, &[p(1), null_mut()]);
        heap.clear();
        assert!(heap.heap.is_null() && heap.len() == 0);
    }
}
