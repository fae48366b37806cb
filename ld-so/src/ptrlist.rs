//! A list of objects that stays inline while short: musl's `builtin_deps` and
//! `builtin_ctor_queue`. musl starts a program that needs only libc without
//! calling `malloc` or `free` at all; a `Vec` for the main program's
//! dependencies and constructor queue would run malloc's code (file pages of
//! libc.so, and emulated code under qemu-user) and take heap pages that
//! startup otherwise never touches.
use crate::dso::Dso;
use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

pub enum PtrList<const N: usize> {
    Inline { len: usize, items: [*mut Dso; N] },
    Heap(Vec<*mut Dso>),
}

impl<const N: usize> PtrList<N> {
    pub const fn new() -> Self {
        PtrList::Inline { len: 0, items: [core::ptr::null_mut(); N] }
    }

    /// Room for `additional` more entries: nothing while they fit inline,
    /// else one allocation of the exact size (musl's `calloc(cnt+1)`).
    pub fn try_reserve_exact(&mut self, additional: usize) -> Result<(), TryReserveError> {
        match self {
            PtrList::Inline { len, items } => {
                if *len + additional <= N {
                    return Ok(());
                }
                let mut heap = Vec::new();
                heap.try_reserve_exact(*len + additional)?;
                heap.extend_from_slice(&items[..*len]);
                *self = PtrList::Heap(heap);
                Ok(())
            }
            PtrList::Heap(v) => v.try_reserve_exact(additional),
        }
    }

    /// `len` null entries: inline while they fit, else one allocation of
    /// the exact size (musl's `calloc(cnt)`), to be filled by index.
    pub fn try_filled(len: usize) -> Result<Self, TryReserveError> {
        if len <= N {
            return Ok(PtrList::Inline { len, items: [core::ptr::null_mut(); N] });
        }
        let mut heap = Vec::new();
        heap.try_reserve_exact(len)?;
        heap.resize(len, core::ptr::null_mut());
        Ok(PtrList::Heap(heap))
    }

    /// Keep the first `new_len` entries.
    pub fn truncate(&mut self, new_len: usize) {
        match self {
            PtrList::Inline { len, .. } => *len = new_len.min(*len),
            PtrList::Heap(v) => v.truncate(new_len),
        }
    }

    pub fn push(&mut self, p: *mut Dso) {
        match self {
            PtrList::Inline { len, items } if *len < N => {
                items[*len] = p;
                *len += 1;
            }
            PtrList::Inline { len, items } => {
                let mut heap = Vec::with_capacity(N * 2);
                heap.extend_from_slice(&items[..*len]);
                heap.push(p);
                *self = PtrList::Heap(heap);
            }
            PtrList::Heap(v) => v.push(p),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            PtrList::Inline { len, .. } => *len,
            PtrList::Heap(v) => v.len(),
        }
    }
}

impl<const N: usize> Deref for PtrList<N> {
    type Target = [*mut Dso];
    fn deref(&self) -> &[*mut Dso] {
        match self {
            PtrList::Inline { len, items } => &items[..*len],
            PtrList::Heap(v) => v,
        }
    }
}

impl<const N: usize> DerefMut for PtrList<N> {
    fn deref_mut(&mut self) -> &mut [*mut Dso] {
        match self {
            PtrList::Inline { len, items } => &mut items[..*len],
            PtrList::Heap(v) => v,
        }
    }
}

impl<const N: usize> Clone for PtrList<N> {
    fn clone(&self) -> Self {
        match self {
            PtrList::Inline { len, items } => PtrList::Inline { len: *len, items: *items },
            PtrList::Heap(v) => PtrList::Heap(v.clone()),
        }
    }
}

impl<const N: usize> Default for PtrList<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize) -> *mut Dso {
        n as *mut Dso
    }

    #[test]
    fn inline_then_heap() {
        let mut l: PtrList<2> = PtrList::new();
        l.try_reserve_exact(2).unwrap();
        assert!(matches!(l, PtrList::Inline { .. }));
        l.push(p(1));
        l.push(p(2));
        assert!(matches!(l, PtrList::Inline { .. }));
        assert_eq!(&*l, &[p(1), p(2)]);
        l.push(p(3));
        assert!(matches!(l, PtrList::Heap(_)));
        assert_eq!(&*l, &[p(1), p(2), p(3)]);
        let mut m: PtrList<2> = PtrList::new();
        m.push(p(7));
        m.try_reserve_exact(5).unwrap();
        assert!(matches!(&m, PtrList::Heap(v) if v.capacity() == 6));
        assert_eq!(&*m, &[p(7)]);
    }

    #[test]
    fn filled_by_index_then_truncated() {
        let mut inline: PtrList<2> = PtrList::try_filled(2).unwrap();
        assert!(matches!(inline, PtrList::Inline { len: 2, .. }));
        inline[1] = p(5);
        inline.truncate(1);
        assert_eq!(&*inline, &[core::ptr::null_mut()]);
        let mut heap: PtrList<2> = PtrList::try_filled(3).unwrap();
        assert!(matches!(&heap, PtrList::Heap(v) if v.capacity() == 3));
        heap[0] = p(1);
        heap[2] = p(3);
        heap.truncate(2);
        assert_eq!(&*heap, &[p(1), core::ptr::null_mut()]);
    }
}
