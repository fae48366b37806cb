//! The kernel's vDSO (AT_SYSINFO_EHDR) as stage 3 attaches it, and the
//! thread's `sysinfo` (AT_SYSINFO).
use crate::elf::*;
use crate::mem;
use crate::state::State;

/// `__pthread_self()->sysinfo = __sysinfo`.
pub fn set_self_sysinfo(v: usize) {
    // SAFETY: the thread pointer is installed; the field offset comes from the probe.
    unsafe { mem::write(crate::musl::pthread_self() + crate::musl::probed::PTHREAD_SYSINFO, v) };
}

/// The kernel's vDSO, attached last so it is not part of the global namespace.
pub fn attach_vdso(st: &mut State, base: usize) {
    if base == 0 {
        return;
    }
    let vp = crate::state::vdso_ptr();
    // SAFETY: startup, single-threaded: the only reference to the vDSO's object.
    let v = unsafe { &mut *vp };
    // SAFETY: the kernel maps the vDSO image, headers included.
    let eh = unsafe { Ehdr::read(base) };
    v.phdr = base + eh.e_phoff;
    v.phnum = eh.e_phnum;
    v.phentsize = eh.e_phentsize;
    for i in 0..v.phnum {
        let ph = v.phdr_at(i);
        if ph.p_type == PT_DYNAMIC {
            v.dynv = base + ph.p_offset;
        }
        if ph.p_type == PT_LOAD {
            v.base = base.wrapping_sub(ph.p_vaddr).wrapping_add(ph.p_offset);
        }
    }
    v.name = c"".as_ptr().cast();
    v.shortname = c"linux-gate.so.1".as_ptr().cast();
    v.relocated = true;
    v.deps_loaded = true;
    v.decode_dyn();
    // SAFETY: live Dsos.
    unsafe {
        (*vp).prev = st.tail;
        (*st.tail).next = vp;
    }
    st.tail = vp;
}
