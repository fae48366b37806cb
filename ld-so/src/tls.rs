//! Thread-local storage: the builtin TLS block the loader runs on before the
//! real one is sized, offsets of each module's static TLS, the descriptors for
//! TLSDESC, the list of modules' images `__copy_tls` walks, and the per-thread
//! memory a `dlopen`ed module with TLS reserves. Layout constants come from
//! the musl being linked (the probe).
use crate::arch;
use crate::dso::Dso;
use crate::musl::probed as p;
use crate::musl::{ffi, libc};
use crate::state::State;
use alloc::vec::Vec;

pub const TLS_ABOVE_TP: bool = p::TLS_ABOVE_TP != 0;
pub const GAP_ABOVE_TP: usize = p::GAP_ABOVE_TP;
pub const DTP_OFFSET: usize = p::DTP_OFFSET;
pub const TLSDESC_BACKWARDS: bool = arch::TLSDESC_BACKWARDS;

pub use crate::musl::{builtin, BUILTIN_SIZE, MIN_TLS_ALIGN};

/// musl's MAXP2.
pub fn maxp2(a: usize, b: usize) -> usize {
    (a.wrapping_neg() & b.wrapping_neg()).wrapping_neg()
}

/// The thread-pointer offset of a TLS symbol at `value` in a module placed at
/// `offset`, plus `addend` (REL_TPOFF).
pub fn tpoff(value: usize, offset: usize, addend: usize) -> usize {
    if TLS_ABOVE_TP {
        value.wrapping_add(offset).wrapping_add(addend) // TPOFF_K is 0 on every arch here
    } else {
        value.wrapping_sub(offset).wrapping_add(addend)
    }
}

/// Place a module's static TLS after those already placed (musl's code in
/// `load_library`, and for the main program in `__dls3`).
pub fn assign_offset(st: &mut State, tls: &mut crate::musl::TlsModule, is_main: bool) {
    let image = tls.image as usize;
    let align = tls.align.max(1);
    if TLS_ABOVE_TP {
        if is_main {
            tls.offset = GAP_ABOVE_TP + ((image.wrapping_sub(GAP_ABOVE_TP)) & (align - 1));
        } else {
            tls.offset = st.tls_offset + ((align - 1) & (image.wrapping_sub(st.tls_offset)));
        }
        st.tls_offset = tls.offset + tls.size;
    } else {
        if is_main {
            st.tls_offset = tls.size + ((image.wrapping_add(tls.size)).wrapping_neg() & (align - 1));
        } else {
            st.tls_offset += tls.size + align - 1;
            st.tls_offset -= (st.tls_offset.wrapping_add(image)) & (align - 1);
        }
        tls.offset = st.tls_offset;
    }
    st.tls_align = maxp2(st.tls_align, tls.align);
}

/// musl's `update_tls_size`.
pub fn update_size(st: &State) {
    libc::set_tls_cnt(st.tls_cnt);
    libc::set_tls_align(st.tls_align);
    let w = core::mem::size_of::<usize>();
    let raw = (1 + st.tls_cnt) * w + st.tls_offset + p::PTHREAD_SIZE + st.tls_align * 2;
    libc::set_tls_size((raw + st.tls_align - 1) & st.tls_align.wrapping_neg());
}

extern "C" {
    fn __tlsdesc_static();
    fn __tlsdesc_dynamic();
}

pub fn tlsdesc_static() -> usize {
    __tlsdesc_static as *const () as usize
}

pub fn tlsdesc_dynamic() -> usize {
    __tlsdesc_dynamic as *const () as usize
}

/// The argument of a descriptor for a module without static TLS:
/// `__tlsdesc_dynamic` reads `{module id, offset}` from it (musl's
/// `struct td_index`; its `next` link becomes the owning object's list).
/// None when memory runs out, which the caller reports as musl does.
///
/// The descriptor is kept on `owner`'s list (its room taken first, so that the
/// push cannot reallocate); its address is returned. Out of line: `dlopen`
/// only, and the relocation loops stay small.
#[inline(never)]
pub fn dynamic_descriptor(owner: &mut crate::dso::Dso, module: usize, offset: usize) -> Option<usize> {
    let list = &mut owner.dl()?.tlsdescs;
    crate::heap::reserve(list, 1).ok()?;
    let desc = crate::heap::boxed([module, offset.wrapping_sub(DTP_OFFSET)]).ok()?;
    let address = &*desc as *const [usize; 2] as usize;
    list.push(desc);
    Some(address)
}

/// Install the thread pointer for the block at `mem` (musl: `__init_tp(__copy_tls(mem))`).
pub fn install(mem: *mut u8) -> bool {
    // SAFETY: `mem` is at least libc.tls_size bytes, aligned as musl requires.
    unsafe { ffi::__init_tp(ffi::__copy_tls(mem)) >= 0 }
}

/// A library with TLS loaded by `dlopen`: reserve, per running thread, an
/// enlarged dtv and a copy of the TLS image, so that `install_new_tls` cannot
/// fail once the library is committed (musl allocates them with the dso).
/// False when the memory cannot be had.
pub fn reserve_thread_tls(st: &State, d: &mut Dso) -> bool {
    let w = core::mem::size_of::<usize>();
    let threads = libc::threads_minus_1() as usize + 1;
    // After this library is counted: tls_cnt + 1 modules, plus dtv[0].
    let dtv_words = st.tls_cnt.checked_add(2).and_then(|n| n.checked_mul(threads));
    let image_words = d.tls.size.checked_add(d.tls.align).and_then(|b| b.checked_mul(threads)).map(|b| b.div_ceil(w));
    let (Some(dtv_words), Some(image_words)) = (dtv_words, image_words) else { return false };
    let Some(words) = dtv_words.checked_add(image_words) else { return false };
    let mut space = Vec::new();
    if space.try_reserve_exact(words).is_err() {
        return false;
    }
    space.resize(words, 0);
    let Some(x) = d.dl() else { return false };
    x.tls_space = space;
    // The dtvs first, then the TLS copies (the heap buffer stays put when the
    // Dso moves into its box).
    x.new_dtv = x.tls_space.as_mut_ptr();
    x.new_tls = (x.new_dtv as usize + dtv_words * w) as *mut u8;
    true
}

/// Add a module's TLS image to the list `__copy_tls` and `pthread_create` walk.
pub fn link_tls(st: &mut State, d: &mut Dso) {
    let m = &mut d.tls as *mut crate::musl::TlsModule;
    if st.tls_tail.is_null() {
        libc::set_tls_head(m);
    } else {
        // SAFETY: tls_tail is a live module.
        unsafe { (*st.tls_tail).next = m };
    }
    st.tls_tail = m;
}
